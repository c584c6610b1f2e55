// Parsing request bodies and query strings against zod schemas at the boundary; failures become
// 400s with a message that names the field.

import type { z } from 'zod';
import { invalid } from '../errors.js';
import { describeZodError } from './errors.js';

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what = 'Request body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(`${what} is invalid: ${describeZodError(result.error)}`);
  return result.data;
}
