/** Models for renderer tests (not shipped: *.fixture.ts is excluded from the build). */
import { parseConfig } from '../config/load.js';
import type { StackModel } from '../config/model.js';

export type DeepMutable<T> = { -readonly [K in keyof T]: DeepMutable<T[K]> };

/** A validated model of `yaml`, as if the file were /srv/site/onionscale.yaml rendered for /var/lib/onionscale. */
export const model = (yaml: string, stateDir = '/var/lib/onionscale'): StackModel =>
  parseConfig(yaml, '/srv/site/onionscale.yaml', { stateDir });

/** A hand-built (unvalidated) model: what a buggy caller could pass. Renderers must not trust it. */
export function tampered(yaml: string, change: (m: DeepMutable<StackModel>) => void): StackModel {
  const m = structuredClone(model(yaml)) as DeepMutable<StackModel>;
  change(m);
  return m;
}

/** Directive lines only, without comments and blanks. */
export const directives = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
