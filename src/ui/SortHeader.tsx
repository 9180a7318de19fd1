// A sortable table's column header (ResultsTable, StudyResultsTable): a button that sorts by the
// column, ascending first and reversed on the next click, with the direction shown and announced.

export type SortDir = 1 | -1;

interface Props<K extends string> {
  readonly column: { readonly key: K; readonly label: string; readonly title?: string };
  readonly numeric: boolean;
  readonly sort: { readonly key: K; readonly dir: SortDir } | null;
  readonly onSort: (sort: { key: K; dir: SortDir }) => void;
}

export function SortHeader<K extends string>({ column, numeric, sort, onSort }: Props<K>) {
  const active = sort?.key === column.key;
  return (
    <th scope="col" className={numeric ? 'num' : undefined} title={column.title} aria-sort={active ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" onClick={() => onSort({ key: column.key, dir: active ? (-sort.dir as SortDir) : 1 })}>
        {column.label}
        <span aria-hidden>{active ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}</span>
      </button>
    </th>
  );
}
