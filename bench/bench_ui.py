"""The web UI in headless Chromium against the real stack: a long chat, and fast streaming.

Processes: embedded NATS and PostgreSQL and every service as a real process (the test harness's
`Stack`), the gateway serving the built `web/dist`. The browser is Debian's Chromium driven by
Playwright, one 1280x900 page; every figure is measured inside the page with `performance.now()`.

- Long chat: a chat of 1,000 messages (500 questions and markdown answers with lists, tables and
  code) opened by URL, N_OPEN times. "Render" is from the navigation's start to the first frame
  in which all 1,000 messages are in the DOM and the view is at the newest one. Then the message
  list is scrolled from the bottom to the top, SCROLL_STEP px per frame, recording every frame's
  duration (requestAnimationFrame deltas; 16.7 ms is one frame at 60 Hz). Typing latency: from
  each key's input event to the next frame's start, while the context line follows the draft.
- Streaming at 200 tokens/s: the simulator sends one token every 5 ms (2,000 tokens, ~10 s).
  The page's `fetch` is wrapped to timestamp each network chunk as it arrives (tokens counted in
  it); a MutationObserver timestamps each DOM update of the answer (words counted in it). The lag
  of token k is (first DOM update showing >= k words) - (arrival of the chunk with token k).
  Plain text (an `echo:` prompt, so words = tokens) gives per-token lag; a markdown answer (lists,
  tables, code) gives the lag from the stream's last chunk to the final, highlighted render.
"""

import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from bench.report import write_section
from tests.support.backends import fresh_database, start_backends
from tests.support.browser import UiUser, launch_browser, message_box, open_ui, require_web_build
from tests.support.health import reset_faults, set_fault
from tests.support.stack import Stack, base_env, running_stack

NAME = "ui"
COMMAND = "make bench  (or: .venv/bin/python -m bench ui)"
MODEL = "sim-vllm-small"  # the harness's vLLM model: 8,192 tokens of context
CHAT_MESSAGES = 1000
N_OPEN = 5
SCROLL_STEP = 120
TYPED = "How does a write-through cache differ from write-back?"
STREAM_TOKENS = 2000
STREAM_ITL_MS = 5  # 200 tokens/s
STREAM_RUNS = 2
FRAME_MS = 1000 / 60
TARGET_RENDER_MS = 1500.0
TARGET_SCROLL_P95_MS = 2 * FRAME_MS
TARGET_FINAL_LAG_MS = 100.0

FETCH_PROBE = """
(() => {
  const bench = (window.__bench = { arrivals: [], done: null, renders: [], final: null });
  const original = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await original(input, init);
    const url = typeof input === 'string' ? input : input.url;
    if (!url.includes('/v1/chat/completions') || !response.body) return response;
    const decoder = new TextDecoder();
    let carry = '';
    let tokens = 0;
    const probe = new TransformStream({
      transform(chunk, controller) {
        const at = performance.now();
        const text = carry + decoder.decode(chunk, { stream: true });
        const found = (text.match(/"content":"[^"]/g) || []).length;
        carry = text.slice(-16);
        // a token split across two chunks is counted with the second one
        const again = (carry.match(/"content":"[^"]/g) || []).length;
        tokens += found - again;
        if (found - again) bench.arrivals.push([at, tokens]);
        if (text.includes('[DONE]')) bench.done = at;
        controller.enqueue(chunk);
      },
      flush() {
        tokens += (carry.match(/"content":"[^"]/g) || []).length;
      },
    });
    return new Response(response.body.pipeThrough(probe), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
  const watch = () => {
    const observer = new MutationObserver(() => {
      const answers = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = answers[answers.length - 1];
      if (!last || bench.final !== null || !bench.arrivals.length) return;
      const body = last.querySelector('.markdown, .msg-text');
      const words = body ? body.textContent.trim().split(/\\s+/).filter(Boolean).length : 0;
      const at = performance.now();
      const previous = bench.renders[bench.renders.length - 1];
      if (!previous || previous[1] !== words) bench.renders.push([at, words]);
      if (last.getAttribute('aria-busy') !== 'true' && bench.done !== null) bench.final = at;
    });
    observer.observe(document.body, { subtree: true, childList: true, characterData: true,
      attributes: true, attributeFilter: ['aria-busy'] });
  };
  if (document.body) watch();
  else document.addEventListener('DOMContentLoaded', watch);
})();
"""

SCROLL_FRAMES = """
async (step) => {
  const list = document.querySelector('.message-scroll');
  const frames = [];
  let longTasks = 0;
  const observer = new PerformanceObserver((list) => { longTasks += list.getEntries().length; });
  try { observer.observe({ type: 'longtask' }); } catch (e) { /* not supported */ }
  await new Promise((done) => {
    let last = null;
    const frame = (now) => {
      if (last !== null) frames.push(now - last);
      last = now;
      if (list.scrollTop <= 0) return done();
      list.scrollTop = Math.max(0, list.scrollTop - step);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  observer.disconnect();
  return { frames, longTasks, height: list.scrollHeight };
}
"""

TYPING_LATENCY = """
async (text) => {
  const box = document.querySelector('#chat-input');
  box.focus();
  const delays = [];
  box.addEventListener('input', (event) => {
    const typed = event.timeStamp;
    requestAnimationFrame(() => delays.push(performance.now() - typed));
  });
  window.__typing = delays;
  return true;
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


def answer_markdown(i: int) -> str:
    """A realistic assistant answer: ~150-300 tokens of markdown, some with a table or code."""
    parts = [
        f"## Part {i}: caching notes",
        "A cache keeps recently used data close to where it is needed. "
        "It trades memory for speed, and its hit rate decides how much it helps. " * 2,
        "- **Write-through**: every write goes to the cache and the store.\n"
        "- **Write-back**: writes go to the cache first and reach the store later.\n"
        "- *Eviction*: LRU, LFU or random, depending on the access pattern.",
    ]
    if i % 5 == 0:
        parts.append(
            "```python\nfrom functools import lru_cache\n\n\n@lru_cache(maxsize=1024)\n"
            "def fib(n: int) -> int:\n"
            f"    return n if n < 2 else fib(n - 1) + fib(n - 2)  # {i}\n```"
        )
    if i % 7 == 0:
        parts.append(
            "| policy | hit rate | cost |\n|---|---:|---|\n| LRU | 0.91 | low |\n"
            f"| LFU | 0.93 | medium |\n| random | 0.84 | lowest ({i}) |"
        )
    return "\n\n".join(parts)


async def long_chat(ui: UiUser) -> str:
    chat = await ui.create_chat(MODEL, "A chat of 1,000 messages")
    for i in range(CHAT_MESSAGES // 2):
        await ui.post(
            f"/v1/chat/sessions/{chat}/messages",
            {"role": "user", "content": f"Question {i}: how should I cache this result?"},
        )
        answer = {"role": "assistant", "content": answer_markdown(i)}
        await ui.post(f"/v1/chat/sessions/{chat}/messages", answer)
    return chat


async def open_long_chat(page: Page, chat: str) -> float:
    """ms from the navigation's start to the first frame with every message, newest in view."""
    await page.goto(f"/chat/{chat}", wait_until="commit")
    handle = await page.wait_for_function(
        """(count) => {
          const found = document.querySelectorAll('[data-testid="message"]');
          const list = document.querySelector('.message-scroll');
          if (found.length < count || !list) return false;
          const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 2;
          return atEnd && performance.now();
        }""",
        arg=CHAT_MESSAGES,
        polling="raf",
        timeout=120_000,
    )
    return float(await handle.json_value())


async def measure_long_chat(ui: UiUser) -> dict[str, Any]:
    chat = await long_chat(ui)
    page = ui.page
    renders = [await open_long_chat(page, chat) for _ in range(N_OPEN)]
    dom_nodes = await page.evaluate("document.getElementsByTagName('*').length")
    await page.wait_for_timeout(500)  # let the view settle before scrolling
    scroll = await page.evaluate(SCROLL_FRAMES, SCROLL_STEP)
    await page.evaluate(TYPING_LATENCY, TYPED)
    await message_box(page).press_sequentially(TYPED, delay=60)
    await page.wait_for_timeout(300)
    typing = await page.evaluate("window.__typing")
    context_line = await page.get_by_test_id("context-line").inner_text()
    return {
        "renders": renders,
        "dom_nodes": dom_nodes,
        "frames": scroll["frames"],
        "long_tasks": scroll["longTasks"],
        "scroll_height": scroll["height"],
        "typing": typing,
        "context_line": context_line,
    }


async def stream_once(ui: UiUser, prompt: str) -> dict[str, Any]:
    page = await ui.new_page()
    await page.add_init_script(FETCH_PROBE)
    await page.goto("/chat")
    await page.get_by_test_id("model-select").select_option(MODEL)
    await page.get_by_text("Chat settings").click()
    await page.get_by_label("Max tokens").fill(str(STREAM_TOKENS * 2))
    await message_box(page).fill(prompt)
    await message_box(page).press("Enter")
    await page.wait_for_function("window.__bench.final !== null", timeout=120_000)
    probe: dict[str, Any] = await page.evaluate("window.__bench")
    await page.close()
    return probe


def token_lags(probe: dict[str, Any]) -> list[float]:
    """For each arrived token: first DOM update showing it minus its chunk's arrival."""
    renders = probe["renders"]
    lags = []
    r = 0
    for arrived_at, tokens in probe["arrivals"]:
        while r < len(renders) and renders[r][1] < tokens:
            r += 1
        if r == len(renders):
            break
        lags.append(max(0.0, renders[r][0] - arrived_at))
    return lags


async def measure_streaming(ui: UiUser, stack: Stack) -> list[dict[str, Any]]:
    await set_fault(stack, MODEL, itl_ms=STREAM_ITL_MS, output_tokens=STREAM_TOKENS)
    results = []
    try:
        plain = "echo: " + " ".join(f"w{i}" for i in range(STREAM_TOKENS))
        for kind, prompt in (("plain text", plain), ("markdown", "Tell me about caching")):
            for _ in range(STREAM_RUNS):
                probe = await stream_once(ui, prompt)
                arrivals = probe["arrivals"]
                first, last = arrivals[0], arrivals[-1]
                rate = (last[1] - first[1]) / ((last[0] - first[0]) / 1000)
                results.append(
                    {
                        "kind": kind,
                        "tokens": last[1],
                        "rate": rate,
                        "lags": token_lags(probe) if kind == "plain text" else [],
                        "final_lag": probe["final"] - probe["done"],
                        "dom_updates": len(probe["renders"]),
                    }
                )
    finally:
        await reset_faults(stack)
    return results


def report(chat: dict[str, Any], streams: list[dict[str, Any]]) -> str:
    renders, frames, typing = chat["renders"], chat["frames"], chat["typing"]
    slow = sum(1 for f in frames if f > 2 * FRAME_MS)
    render_p50 = statistics.median(renders)
    scroll_p95 = percentile(frames, 0.95)
    lines = [
        "### Opening and scrolling a chat of 1,000 messages",
        "",
        f"{CHAT_MESSAGES} messages (500 questions, 500 markdown answers; every 5th with code, every"
        f" 7th with a table), opened {N_OPEN} times by URL; {chat['dom_nodes']:,} DOM elements"
        f" once open; the list is {chat['scroll_height']:,} px tall.",
        "",
        "| measure | n | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
        f"| open: navigation start → all messages rendered, newest in view | {len(renders)} |"
        f" {render_p50:.0f} ms | {percentile(renders, 0.95):.0f} ms | {max(renders):.0f} ms |",
        f"| scroll bottom → top, {SCROLL_STEP} px per frame: frame duration | {len(frames)} |"
        f" {statistics.median(frames):.1f} ms | {scroll_p95:.1f} ms | {max(frames):.1f} ms |",
        f"| typing in the box (input event → next frame) | {len(typing)} |"
        f" {statistics.median(typing):.1f} ms | {percentile(typing, 0.95):.1f} ms |"
        f" {max(typing):.1f} ms |",
        "",
        f"Scrolling: {slow} of {len(frames)} frames took longer than two frames"
        f" ({2 * FRAME_MS:.1f} ms); {chat['long_tasks']} long tasks (> 50 ms) while scrolling."
        f" Context line after typing: `{chat['context_line']}`.",
        "",
        "### Streaming at 200 tokens/s",
        "",
        f"The simulator sends one token every {STREAM_ITL_MS} ms ({STREAM_TOKENS:,} tokens)"
        " through the gateway; arrival = the chunk reaching the page's `fetch`, render = the DOM"
        " update that shows it.",
        "",
        "| answer | tokens | arrival rate | DOM updates | token lag p50 | p95 | max |"
        " last chunk → final render |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in streams:
        lag = s["lags"]
        lag_cells = (
            f"{statistics.median(lag):.1f} ms | {percentile(lag, 0.95):.1f} ms | {max(lag):.1f} ms"
            if lag
            else "— | — | —"
        )
        lines.append(
            f"| {s['kind']} | {s['tokens']:,} | {s['rate']:.0f} tok/s | {s['dom_updates']:,} |"
            f" {lag_cells} | {s['final_lag']:.0f} ms |"
        )
    worst_final = max(s["final_lag"] for s in streams)
    lines += [
        "",
        "Tokens are rendered at most once per animation frame (several tokens per DOM update),"
        " so a token waits at most about one frame; the answer's final render (markdown,"
        " syntax highlighting, metrics footer) follows the stream's last chunk.",
        "",
        f"Targets: open ≤ {TARGET_RENDER_MS:.0f} ms p50 ({verdict(render_p50 <= TARGET_RENDER_MS)}:"
        f" {render_p50:.0f} ms); scroll frame p95 ≤ {TARGET_SCROLL_P95_MS:.1f} ms"
        f" ({verdict(scroll_p95 <= TARGET_SCROLL_P95_MS)}: {scroll_p95:.1f} ms); last chunk →"
        f" final render ≤ {TARGET_FINAL_LAG_MS:.0f} ms"
        f" ({verdict(worst_final <= TARGET_FINAL_LAG_MS)}: worst {worst_final:.0f} ms).",
    ]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "missed"


async def run() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    with start_backends(work) as backends, fresh_database(backends.postgres_url) as database:
        env = base_env(backends.nats_url, database)
        env["CORTEX_LOG_LEVEL"] = "WARNING"
        with running_stack(env, work) as stack:
            require_web_build(stack.gateway_url)
            username, password = stack.create_user()
            async with launch_browser() as browser:
                ui = await open_ui(browser, stack.gateway_url, username, password)
                chat = await measure_long_chat(ui)
                streams = await measure_streaming(ui, stack)
                await ui.close()
    body = report(chat, streams)
    print(body)
    write_section(NAME, COMMAND, body)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
