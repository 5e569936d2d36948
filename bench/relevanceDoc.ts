import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/config.js';

const ORDER = ['baselines', 'refined', 'backbones', 'conditions'];

/** Replaces one generated block of docs/relevance.md (between its markers), leaving the others alone. */
export function writeRelevanceSection(name: string, title: string, body: string): void {
  mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
  const file = join(REPO_ROOT, 'docs', 'relevance.md');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Relevance\n\nEvery table below is generated: `npm run bench:relevance` regenerates all of them (see bench/).\n';
  const block = `${start}\n${body}\n${end}`;
  if (text.includes(start)) {
    text = text.replace(new RegExp(`${start}[\\s\\S]*?${end}`), () => block);
  } else {
    // Keep the sections in flow order: baseline first.
    const later = ORDER.slice(ORDER.indexOf(name) + 1).map((n) => text.indexOf(`<!-- ${n}:start -->`)).filter((i) => i >= 0);
    const section = `## ${title}\n\n${block}\n\n`;
    if (later.length > 0) {
      const at = text.lastIndexOf('## ', Math.min(...later));
      text = text.slice(0, at) + section + text.slice(at);
    } else text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(file, text.trimEnd() + '\n');
}
