/**
 * Node module-resolution hook (registered with `module.register`) that lets
 * Node load tfjs-core's per-file ES modules, whose relative imports omit the
 * `.js` extension (they were written for bundlers). Only specifiers imported
 * from inside @tensorflow/tfjs-core/dist are touched.
 */

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
  importAttributes?: Record<string, string>;
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<ResolveResult>;

const TFJS_CORE_DIST = '/@tensorflow/tfjs-core/dist/';

export async function resolve(specifier: string, context: ResolveContext, nextResolve: NextResolve): Promise<ResolveResult> {
  const fromTfjsCore = context.parentURL?.includes(TFJS_CORE_DIST) ?? false;
  if (fromTfjsCore && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    try {
      return await nextResolve(`${specifier}.js`, context);
    } catch {
      return nextResolve(`${specifier}/index.js`, context);
    }
  }
  return nextResolve(specifier, context);
}
