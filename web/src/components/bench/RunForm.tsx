// The run form: model, load shape and levels, size of a level, prompts, sampling, SLOs.

import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router-dom';
import { useFormStatus } from '../../hooks/useFormStatus';
import { parseJsonLines, parseLevels } from '../../lib/bench';
import { startRun, type RunRequest } from '../../lib/bench-api';
import { FormStatus } from '../FormStatus';
import { SelectField } from '../SelectField';

const SHAPES = [
  { value: 'concurrency', label: 'Concurrency sweep' },
  { value: 'rate', label: 'Request rate (Poisson)' },
  { value: 'slo_search', label: 'SLO search (bisection)' },
];
const PROMPTS = [
  { value: 'fixed', label: 'Fixed prompt' },
  { value: 'random', label: 'Random, length distribution' },
  { value: 'jsonl', label: 'JSON Lines file' },
];
const LEVEL_HINT: Record<string, string> = {
  concurrency: 'Concurrency levels, e.g. 1,4,16,64',
  rate: 'Requests per second, e.g. 1,2,4',
  slo_search: 'Lowest and highest concurrency, e.g. 1,64',
};

const optional = (text: string) => (text.trim() === '' ? undefined : Number(text));

export function RunForm({ model }: { model: string }) {
  const navigate = useNavigate();
  const status = useFormStatus('Could not start the run.');
  const [shape, setShape] = useState('concurrency');
  const [levels, setLevels] = useState('1,4,16');
  const [per, setPer] = useState<'requests' | 'duration'>('requests');
  const [size, setSize] = useState('20');
  const [promptKind, setPromptKind] = useState('fixed');
  const [text, setText] = useState('Write a short story about a lighthouse.');
  const [inputLen, setInputLen] = useState('128');
  const [stddev, setStddev] = useState('0');
  const [prompts, setPrompts] = useState<string[]>([]);
  const [outputTokens, setOutputTokens] = useState('64');
  const [temperature, setTemperature] = useState('');
  const [topP, setTopP] = useState('');
  const [seed, setSeed] = useState('0');
  const [slo, setSlo] = useState({ ttft: '', tpot: '', e2el: '' });

  const readFile = async (file: File | undefined) => {
    if (!file) return;
    try {
      setPrompts(parseJsonLines(await file.text()));
    } catch (e) {
      setPrompts([]);
      status.reject(e instanceof Error ? `The file: ${e.message}.` : 'Could not read the file.');
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void status.submit(async () => {
      const parsed = parseLevels(levels);
      if (!parsed) throw new Error('Levels: give positive numbers separated by commas.');
      const body: RunRequest = {
        model,
        shape: shape as RunRequest['shape'],
        levels: parsed,
        requests_per_level: per === 'requests' ? Number(size) : null,
        duration_per_level_sec: per === 'duration' ? Number(size) : null,
        prompt: {
          kind: promptKind as 'fixed' | 'random' | 'jsonl',
          text,
          input_len: Number(inputLen),
          input_len_stddev: Number(stddev),
          prompts: promptKind === 'jsonl' ? prompts : [],
        },
        output_tokens: Number(outputTokens),
        temperature: optional(temperature) ?? null,
        top_p: optional(topP) ?? null,
        seed: Number(seed),
        slo: { ttft_ms: optional(slo.ttft) ?? null, tpot_ms: optional(slo.tpot) ?? null, e2el_ms: optional(slo.e2el) ?? null },
        slo_attainment: 0.9,
        source: 'web',
      };
      const run = await startRun(body);
      navigate(`/bench/runs/${run.id}`);
      return 'Started.';
    });
  };

  const field = (id: string, label: string, value: string, set: (v: string) => void, hint?: string) => (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} inputMode="decimal" value={value} onChange={(e) => set(e.target.value)} placeholder={hint} />
    </div>
  );

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="bench-form-title">
      <h2 id="bench-form-title" className="form-title">
        New benchmark run on <span className="mono">{model}</span>
      </h2>
      <SelectField id="bench-shape" label="Load" value={shape} onChange={setShape} options={SHAPES} />
      {field('bench-levels', 'Levels', levels, setLevels, LEVEL_HINT[shape])}
      <SelectField
        id="bench-per"
        label="Each level runs"
        value={per}
        onChange={(v) => setPer(v as 'requests' | 'duration')}
        options={[
          { value: 'requests', label: 'a number of requests' },
          { value: 'duration', label: 'a duration (s)' },
        ]}
      />
      {field('bench-size', per === 'requests' ? 'Requests per level' : 'Seconds per level', size, setSize)}
      <SelectField id="bench-prompt-kind" label="Prompts" value={promptKind} onChange={setPromptKind} options={PROMPTS} />
      {promptKind === 'fixed' && (
        <div className="field">
          <label htmlFor="bench-prompt">Prompt</label>
          <input id="bench-prompt" value={text} onChange={(e) => setText(e.target.value)} />
        </div>
      )}
      {promptKind === 'random' && field('bench-input-len', 'Input length (words, mean)', inputLen, setInputLen)}
      {promptKind === 'random' && field('bench-input-std', 'Input length std. dev.', stddev, setStddev)}
      {promptKind === 'jsonl' && (
        <div className="field">
          <label htmlFor="bench-file">JSON Lines file ({prompts.length} prompts)</label>
          <input id="bench-file" type="file" accept=".jsonl,.json,.txt" onChange={(e) => void readFile(e.target.files?.[0])} />
        </div>
      )}
      {field('bench-output', 'Output tokens (max)', outputTokens, setOutputTokens)}
      {field('bench-temperature', 'Temperature', temperature, setTemperature, "engine's default")}
      {field('bench-top-p', 'Top p', topP, setTopP, "engine's default")}
      {field('bench-seed', 'Seed', seed, setSeed)}
      {field('bench-slo-ttft', 'SLO: TTFT (ms)', slo.ttft, (v) => setSlo({ ...slo, ttft: v }), 'none')}
      {field('bench-slo-tpot', 'SLO: TPOT (ms)', slo.tpot, (v) => setSlo({ ...slo, tpot: v }), 'none')}
      {field('bench-slo-e2el', 'SLO: E2EL (ms)', slo.e2el, (v) => setSlo({ ...slo, e2el: v }), 'none')}
      <div className="field field-actions">
        <button type="submit" className="btn btn-primary" disabled={status.busy}>
          {status.busy ? 'Starting…' : 'Start run'}
        </button>
      </div>
      <FormStatus error={status.error} done={status.done} />
    </form>
  );
}
