import { isMap, isScalar, isSeq, type Node } from 'yaml';

/**
 * The node at a dotted field path such as `kubernetes.nodes[1].hostname`, or the deepest existing
 * ancestor when the field is absent, so a message about it still points somewhere useful.
 */
export function locateField(root: Node | null | undefined, path: string): Node | undefined {
  let node: Node | null | undefined = root;
  let found: Node | undefined = root ?? undefined;
  for (const step of pathSteps(path)) {
    let next: unknown;
    if (typeof step === 'number') {
      next = isSeq(node) ? node.items[step] : undefined;
    } else if (isMap(node)) {
      next = node.items.find((p) => isScalar(p.key) && String(p.key.value) === step)?.value;
    }
    if (!next || typeof next !== 'object') return found;
    node = next as Node;
    found = node;
  }
  return found;
}

function pathSteps(path: string): (string | number)[] {
  const steps: (string | number)[] = [];
  for (const part of path.split('.')) {
    const match = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      steps.push(part);
      continue;
    }
    if (match[1]) steps.push(match[1]);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) steps.push(Number(index[1]));
  }
  return steps;
}
