// How deeply a YAML text nests its collections, measured before it is parsed. The yaml package
// composes a document recursively: a few hundred nested `[`, `{` or indented maps exhaust the
// stack, and V8 may then abort the whole process ("FATAL ERROR: RegExpCompiler Allocation failed")
// instead of throwing — no report, no outputs, the bucket's lock left behind. A pull request or a
// bucket writer can plant such a file in 400 KB. The package's concrete syntax tree is built
// without recursion (a stack), so the nesting is measured on it here, with an explicit stack too.

import { CST, LineCounter, Parser } from 'yaml';

/** Deepest nesting of collections accepted; real settings files stay far below (ACB's nest ~5 levels). */
export const MAX_YAML_DEPTH = 64;

export interface NestingProblem {
  message: string;
  line: number;
  column: number;
}

/** Where the text first nests collections deeper than `limit`, or null. Never parses more than the syntax tree. */
export function yamlNestingProblem(text: string, limit: number = MAX_YAML_DEPTH): NestingProblem | null {
  const lines = new LineCounter();
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    const offset = deeperThan(token, limit);
    if (offset === null) continue;
    const { line, col } = lines.linePos(offset);
    return {
      message: `nested deeper than ${limit} levels (collections inside collections): refused before parsing`,
      line,
      column: col,
    };
  }
  return null;
}

/** The offset of the first collection nested deeper than `limit` inside `root`, or null. */
function deeperThan(root: CST.Token, limit: number): number | null {
  const stack: [CST.Token, number][] = [[root, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [token, depth] = next;
    const level = depth + (CST.isCollection(token) ? 1 : 0);
    if (level > limit) return token.offset;
    // Reversed onto the stack: the children come off it in document order.
    for (const child of children(token).reverse()) stack.push([child, level]);
  }
  return null;
}

/** The tokens a token holds: a document's value, a collection's keys and values, a block scalar's properties. */
function children(token: CST.Token): CST.Token[] {
  switch (token.type) {
    case 'document':
      return token.value ? [token.value] : [];
    case 'block-map':
    case 'block-seq':
    case 'flow-collection':
      return token.items.flatMap((item) => [
        ...('key' in item && item.key ? [item.key] : []),
        ...(item.value ? [item.value] : []),
      ]);
    case 'block-scalar':
      return token.props;
    default:
      return [];
  }
}
