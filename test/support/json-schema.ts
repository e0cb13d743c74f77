import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A JSON Schema draft-4 validator for the runtime-spec's schema files (the
 * oracle beside it is python3-jsonschema, which the tests check it agrees
 * with). It knows the keywords draft 4 defines for validation and refuses a
 * schema with any other, so a keyword it does not check can never pass
 * silently. $ref is "FILE#/json/pointer" or "#/pointer", resolved among the
 * files of one directory.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = { [k: string]: Json };

export interface SchemaError {
  /** JSON pointer of the instance value. */
  readonly at: string;
  readonly message: string;
}

const ANNOTATIONS = new Set(['description', '$schema', 'id', 'definitions', 'default', 'title']);
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'items',
  'additionalItems',
  '$ref',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'additionalProperties',
  'patternProperties',
  'dependencies',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
]);

export class SchemaSet {
  private readonly files = new Map<string, Schema>();

  constructor(dir: string) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')))
      this.files.set(f, JSON.parse(readFileSync(join(dir, f), 'utf8')) as Schema);
  }

  /** The errors of instance against FILE (e.g. config-schema.json); empty when it is valid. */
  validate(file: string, instance: unknown): SchemaError[] {
    const errors: SchemaError[] = [];
    this.check(this.file(file), file, instance as Json, '', errors);
    return errors;
  }

  private file(name: string): Schema {
    const s = this.files.get(name);
    if (!s) throw new Error(`schema file ${name} is not in the set`);
    return s;
  }

  private resolve(ref: string, base: string): { schema: Schema; base: string } {
    const [file, pointer = ''] = ref.split('#');
    const at = file === '' ? base : file;
    let node: Json = this.file(at);
    for (const raw of pointer.split('/').slice(1)) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(key in node)) throw new Error(`$ref ${ref} (from ${base}) does not resolve`);
      node = (node as Record<string, Json>)[key];
    }
    return { schema: node as Schema, base: at };
  }

  private check(schema: Schema, base: string, v: Json, at: string, errors: SchemaError[]): void {
    const fail = (message: string) => errors.push({ at, message });
    for (const k of Object.keys(schema))
      if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) throw new Error(`schema keyword "${k}" is not draft 4`);
    if (typeof schema.$ref === 'string') {
      // Draft 4: a $ref replaces its object's other keywords.
      const r = this.resolve(schema.$ref, base);
      this.check(r.schema, r.base, v, at, errors);
      return;
    }
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      if (!types.some((t) => isType(v, t))) {
        fail(`is ${typeOf(v)}, not ${types.join(' or ')}`);
        return;
      }
    }
    if (schema.enum !== undefined && !(schema.enum as Json[]).some((e) => equal(e, v)))
      fail(`is not one of ${JSON.stringify(schema.enum)}`);
    for (const sub of (schema.allOf as Schema[] | undefined) ?? []) this.check(sub, base, v, at, errors);
    if (schema.anyOf !== undefined && !(schema.anyOf as Schema[]).some((s) => this.passes(s, base, v, at))) fail('matches none of anyOf');
    if (schema.oneOf !== undefined) {
      const n = (schema.oneOf as Schema[]).filter((s) => this.passes(s, base, v, at)).length;
      if (n !== 1) fail(`matches ${n} of oneOf, not exactly 1`);
    }
    if (schema.not !== undefined && this.passes(schema.not as Schema, base, v, at)) fail('matches "not"');
    if (typeof v === 'number') this.checkNumber(schema, v, fail);
    if (typeof v === 'string') {
      const len = [...v].length;
      if (typeof schema.minLength === 'number' && len < schema.minLength) fail(`is shorter than ${schema.minLength}`);
      if (typeof schema.maxLength === 'number' && len > schema.maxLength) fail(`is longer than ${schema.maxLength}`);
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v)) fail(`does not match ${schema.pattern}`);
    }
    if (Array.isArray(v)) this.checkArray(schema, base, v, at, errors, fail);
    else if (v !== null && typeof v === 'object') this.checkObject(schema, base, v, at, errors, fail);
  }

  private passes(schema: Schema, base: string, v: Json, at: string): boolean {
    const e: SchemaError[] = [];
    this.check(schema, base, v, at, e);
    return e.length === 0;
  }

  private checkNumber(schema: Schema, v: number, fail: (m: string) => void): void {
    if (typeof schema.minimum === 'number' && (schema.exclusiveMinimum === true ? v <= schema.minimum : v < schema.minimum))
      fail(`is below the minimum ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && (schema.exclusiveMaximum === true ? v >= schema.maximum : v > schema.maximum))
      fail(`is above the maximum ${schema.maximum}`);
    if (typeof schema.multipleOf === 'number' && !Number.isInteger(v / schema.multipleOf))
      fail(`is not a multiple of ${schema.multipleOf}`);
  }

  private checkArray(schema: Schema, base: string, v: Json[], at: string, errors: SchemaError[], fail: (m: string) => void): void {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems) fail(`has fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && v.length > schema.maxItems) fail(`has more than ${schema.maxItems} items`);
    if (schema.uniqueItems === true && v.some((x, i) => v.slice(0, i).some((y) => equal(x, y)))) fail('has duplicate items');
    const items = schema.items;
    if (Array.isArray(items)) {
      v.forEach((x, i) => {
        if (i < items.length) this.check(items[i] as Schema, base, x, `${at}/${i}`, errors);
        else if (schema.additionalItems === false) fail(`has more than ${items.length} items`);
        else if (typeof schema.additionalItems === 'object' && schema.additionalItems !== null)
          this.check(schema.additionalItems as Schema, base, x, `${at}/${i}`, errors);
      });
    } else if (items && typeof items === 'object') {
      v.forEach((x, i) => this.check(items as Schema, base, x, `${at}/${i}`, errors));
    }
  }

  private checkObject(
    schema: Schema,
    base: string,
    v: { [k: string]: Json },
    at: string,
    errors: SchemaError[],
    fail: (m: string) => void,
  ): void {
    const keys = Object.keys(v);
    for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in v)) fail(`has no "${r}"`);
    if (typeof schema.minProperties === 'number' && keys.length < schema.minProperties)
      fail(`has fewer than ${schema.minProperties} properties`);
    if (typeof schema.maxProperties === 'number' && keys.length > schema.maxProperties)
      fail(`has more than ${schema.maxProperties} properties`);
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    const patterns = Object.entries((schema.patternProperties ?? {}) as Record<string, Schema>).map(
      ([p, s]) => [new RegExp(p, 'u'), s] as const,
    );
    for (const k of keys) {
      const here = `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      let matched = false;
      if (Object.prototype.hasOwnProperty.call(props, k)) {
        matched = true;
        this.check(props[k], base, v[k], here, errors);
      }
      for (const [re, s] of patterns) {
        if (re.test(k)) {
          matched = true;
          this.check(s, base, v[k], here, errors);
        }
      }
      if (!matched) {
        if (schema.additionalProperties === false) fail(`has the property "${k}", which is not allowed`);
        else if (typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null)
          this.check(schema.additionalProperties as Schema, base, v[k], here, errors);
      }
    }
    for (const [k, dep] of Object.entries((schema.dependencies ?? {}) as Record<string, Json>)) {
      if (!(k in v)) continue;
      if (Array.isArray(dep)) {
        for (const d of dep as string[]) if (!(d in v)) fail(`has "${k}" but not "${d}"`);
      } else {
        this.check(dep as Schema, base, v, at, errors);
      }
    }
  }
}

function isType(v: Json, t: string): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    default:
      throw new Error(`unknown JSON Schema type "${t}"`);
  }
}

function typeOf(v: Json): string {
  return v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'number' && Number.isInteger(v)
        ? 'an integer'
        : `a ${typeof v}`;
}

/** JSON equality as draft 4 means it: 1 and 1.0 are equal; objects by their members. */
function equal(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a),
    kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && equal(a[k], b[k]));
}
