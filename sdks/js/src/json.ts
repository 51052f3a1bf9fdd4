// JSON text exactly as the Rust SDK writes it (serde_json, keys sorted): compact, or pretty with
// two-space indentation. Object keys are ordered by code point (UTF-8 byte order), which is what
// a Rust `BTreeMap<String, _>` does and not what JS object key order does for integer-like keys.

function byCodePoint(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function write(v: unknown, pretty: boolean, level: number): string | undefined {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  const inner = pretty ? '\n' + '  '.repeat(level + 1) : '';
  const outer = pretty ? '\n' + '  '.repeat(level) : '';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const items = v.map((x) => inner + (write(x, pretty, level + 1) ?? 'null'));
    return `[${items.join(',')}${outer}]`;
  }
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort(byCodePoint)) {
    const text = write(o[k], pretty, level + 1);
    if (text !== undefined) parts.push(`${inner}${JSON.stringify(k)}${pretty ? ': ' : ':'}${text}`);
  }
  if (parts.length === 0) return '{}';
  return `{${parts.join(',')}${outer}}`;
}

/** Compact JSON with sorted keys (`serde_json::to_string`). */
export function canonicalJson(v: unknown): string {
  return write(v, false, 0) ?? 'null';
}

/** Pretty JSON with sorted keys (`serde_json::to_string_pretty`). */
export function canonicalJsonPretty(v: unknown): string {
  return write(v, true, 0) ?? 'null';
}
