// "Copy as curl" / "Copy as Python": the request of an answer, sent to the gateway (not to the
// engine): the same body, authenticated with an API key from the environment.

/** Quote for a POSIX shell (single quotes; an embedded quote closes, escapes and reopens). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlSnippet(body: unknown, origin: string): string {
  const json = JSON.stringify(body);
  return [
    `curl -sS -N ${shellQuote(`${origin}/v1/chat/completions`)} \\`,
    `  -H "Authorization: Bearer $CORTEX_API_KEY" \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d ${shellQuote(json)}`,
  ].join('\n');
}

/** Parameters the openai SDK's `create` takes by name; the rest go in `extra_body`. */
const SDK_PARAMS = [
  'model', 'messages', 'stream', 'stream_options', 'temperature', 'top_p', 'max_tokens',
  'max_completion_tokens', 'seed', 'stop', 'n', 'logprobs', 'top_logprobs', 'presence_penalty',
  'frequency_penalty', 'logit_bias', 'response_format', 'tools', 'tool_choice', 'user',
  'parallel_tool_calls',
];

export function pythonSnippet(body: unknown, origin: string): string {
  const json = JSON.stringify(body, null, 2);
  const stream = !!(body && typeof body === 'object' && (body as { stream?: unknown }).stream);
  const read = stream
    ? [
        'for chunk in response:',
        '    if chunk.choices and chunk.choices[0].delta.content:',
        '        print(chunk.choices[0].delta.content, end="", flush=True)',
        'print()',
      ]
    : ['print(response.choices[0].message)'];
  return [
    'import json',
    'import os',
    '',
    'from openai import OpenAI',
    '',
    `client = OpenAI(base_url=${JSON.stringify(`${origin}/v1`)}, api_key=os.environ["CORTEX_API_KEY"])`,
    `request = json.loads(r"""${json}""")`,
    `known = {${SDK_PARAMS.map((p) => JSON.stringify(p)).join(', ')}}`,
    'extra = {key: request.pop(key) for key in list(request) if key not in known}',
    'response = client.chat.completions.create(**request, extra_body=extra or None)',
    ...read,
  ].join('\n');
}
