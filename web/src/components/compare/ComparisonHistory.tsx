import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { listComparisons, type ComparisonSummary } from '../../lib/compare-api';
import { relativeTime } from '../../lib/format';

/** The user's comparisons in the chat history, marked as comparisons (their panes are not listed
 * as chats). */
export function ComparisonHistory() {
  const [comparisons, setComparisons] = useState<ComparisonSummary[]>([]);
  useEffect(() => {
    const ctrl = new AbortController();
    listComparisons(ctrl.signal).then(setComparisons, () => undefined);
    return () => ctrl.abort();
  }, []);
  if (comparisons.length === 0) return null;
  return (
    <ul className="chat-list" aria-label="Comparisons" data-testid="comparison-list">
      {comparisons.map((c) => (
        <li key={c.id} className="chat-item" data-testid="comparison-item">
          <Link to={`/compare/${c.id}`} className="chat-item-main" title={c.title}>
            <span className="chat-item-title">
              <span className="badge">Compare</span> {c.title}
            </span>
            <span className="chat-item-meta">
              <span className="chat-item-model">{c.models ? c.models.join(' vs ') : `${c.pane_count} hidden models`}</span>
              <span aria-hidden="true"> · </span>
              <time dateTime={c.updated_at}>{relativeTime(c.updated_at)}</time>
            </span>
          </Link>
        </li>
      ))}
    </ul>
  );
}
