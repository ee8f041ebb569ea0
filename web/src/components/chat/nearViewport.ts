// Lazy rendering of long chats: one IntersectionObserver for the whole message list (one per
// message made the browser compute a thousand observers on every frame of a scroll), plus an
// idle-time pass that renders the remaining messages newest first, so that the observer soon has
// nothing left to watch.

import { createContext, useEffect, useState } from 'react';

/** Call `onNear` once, when `el` comes within NEAR_MARGIN of the visible area; returns a cancel. */
export type NearWatcher = (el: Element, onNear: () => void) => () => void;

export const NearViewportContext = createContext<NearWatcher | null>(null);

export const NEAR_MARGIN = '1500px 0px';
/**
 * Messages rendered per idle period. Firing is cheap; the markdown is rendered by React right
 * after, so the batch is kept small to keep each of those tasks short.
 */
const IDLE_BATCH = 3;
const IDLE_MIN_MS = 8;

type IdleHandle = number;
const requestIdle: (cb: (deadline: { timeRemaining: () => number }) => void) => IdleHandle =
  typeof window !== 'undefined' && 'requestIdleCallback' in window
    ? (cb) => window.requestIdleCallback(cb, { timeout: 2000 })
    : (cb) => window.setTimeout(() => cb({ timeRemaining: () => 8 }), 50);
const cancelIdle: (h: IdleHandle) => void =
  typeof window !== 'undefined' && 'cancelIdleCallback' in window
    ? (h) => window.cancelIdleCallback(h)
    : (h) => window.clearTimeout(h);

export function createNearWatcher(root: Element): { watch: NearWatcher; dispose: () => void } {
  const pending = new Map<Element, () => void>();
  let idle: IdleHandle | null = null;

  const fire = (el: Element) => {
    const onNear = pending.get(el);
    if (!onNear) return;
    pending.delete(el);
    observer.unobserve(el);
    onNear();
  };
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) if (entry.isIntersecting) fire(entry.target);
    },
    { root, rootMargin: NEAR_MARGIN },
  );
  const drainWhenIdle = () => {
    if (idle !== null || pending.size === 0) return;
    idle = requestIdle((deadline) => {
      idle = null;
      // Newest (last registered) first: the ones above the view are read next.
      if (deadline.timeRemaining() >= IDLE_MIN_MS) {
        const waiting = [...pending.keys()];
        for (const el of waiting.slice(-IDLE_BATCH).reverse()) fire(el);
      }
      drainWhenIdle();
    });
  };

  const watch: NearWatcher = (el, onNear) => {
    pending.set(el, onNear);
    observer.observe(el);
    drainWhenIdle();
    return () => {
      pending.delete(el);
      observer.unobserve(el);
    };
  };
  const dispose = () => {
    observer.disconnect();
    pending.clear();
    if (idle !== null) cancelIdle(idle);
  };
  return { watch, dispose };
}

/** The watcher for a scrolling element (null until it exists, or without IntersectionObserver). */
export function useNearWatcher(root: Element | null): NearWatcher | null {
  const [watch, setWatch] = useState<NearWatcher | null>(null);
  useEffect(() => {
    if (!root || typeof IntersectionObserver === 'undefined') {
      setWatch(null);
      return;
    }
    const watcher = createNearWatcher(root);
    setWatch(() => watcher.watch);
    return () => {
      watcher.dispose();
      setWatch(null);
    };
  }, [root]);
  return watch;
}
