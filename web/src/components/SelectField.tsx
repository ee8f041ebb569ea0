import type { Org } from '../lib/types';

export interface SelectOption {
  value: string;
  label: string;
}

/** The options of a list of names, each its own label. */
export const optionsOf = (names: readonly string[]): SelectOption[] => names.map((n) => ({ value: n, label: n }));

/** Organisations by id, shown by name. */
export const orgOptions = (orgs: Org[]): SelectOption[] => orgs.map((o) => ({ value: String(o.id), label: o.name }));

interface Props {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  options: SelectOption[];
  /** The label of a first, empty choice ("any", "default"); none when absent. */
  empty?: string;
}

/** A labelled drop-down of a form (`.field`). */
export function SelectField({ id, label, value, onChange, options, empty }: Props) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {empty !== undefined && <option value="">{empty}</option>}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}
