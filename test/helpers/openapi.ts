// Checks HTTP responses (e.g. from supertest) against openapi.yaml.
//
//   const res = await request(app).get('/admin/clients/abc').set('authorization', `Bearer ${t}`);
//   expectMatchesOpenApi(res, 'GET', '/admin/clients/{client_id}');
//
// The whole OpenAPI document is added to one Ajv (JSON Schema 2020-12) instance under OPENAPI_ID, and
// every schema is compiled by reference into it (`OPENAPI_ID#/components/schemas/...`, or the pointer of
// an inline schema), so `#/components/...` $refs inside the document resolve as written. Each compiled
// validator is cached by its pointer.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// Both packages are CommonJS; depending on how they are loaded the default import is either the
// export itself or a namespace whose `default` is the export.
type Ajv2020Class = typeof Ajv2020Module.default;
type Ajv2020Instance = InstanceType<Ajv2020Class>;
const Ajv2020 = ((Ajv2020Module as unknown as { default?: Ajv2020Class }).default ??
  (Ajv2020Module as unknown as Ajv2020Class)) as Ajv2020Class;
type AddFormats = typeof addFormatsModule.default;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  (addFormatsModule as unknown as AddFormats)) as AddFormats;

/** Absolute path of the OpenAPI document. */
export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

/** The `$id` under which the whole document is registered with Ajv. */
export const OPENAPI_ID = 'urn:identity-backend:openapi';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The parts of a supertest (or similar) response that are checked. */
export interface OpenApiCheckedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** Raw body text; used for non-JSON media types such as `text/plain`. */
  text?: string;
  /** Only used to make failure messages more readable. */
  req?: { method?: string; path?: string };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

let documentCache: JsonObject | undefined;
let ajvCache: Ajv2020Instance | undefined;
const validatorCache = new Map<string, ValidateFunction>();

/** The parsed OpenAPI document (parsed once). */
export function loadOpenApiDocument(): JsonObject {
  if (!documentCache) {
    const parsed: unknown = parseYaml(readFileSync(OPENAPI_FILE, 'utf8'));
    if (!isObject(parsed)) throw new Error(`${OPENAPI_FILE} does not contain a YAML mapping`);
    documentCache = parsed;
  }
  return documentCache;
}

/** The Ajv instance holding the whole document under OPENAPI_ID. */
export function getOpenApiAjv(): Ajv2020Instance {
  if (!ajvCache) {
    const ajv = new Ajv2020({
      strict: true,
      strictTypes: false, // if/then and allOf branches legitimately omit `type`
      strictRequired: false, // `not: {required: [...]}` names properties declared elsewhere
      allErrors: true,
      allowUnionTypes: true,
      validateFormats: true,
    });
    addFormats(ajv);
    // OpenAPI 3.1 Schema Object keywords that are not JSON Schema ones.
    ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
    // The document's top-level members: Ajv compiles the root of a schema it resolves fragments in, and
    // strict mode would reject these as unknown keywords. As annotations they are not descended into.
    ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags']);
    ajv.addSchema({ ...loadOpenApiDocument(), $id: OPENAPI_ID });
    ajvCache = ajv;
  }
  return ajvCache;
}

/** Escapes one JSON Pointer reference token (RFC 6901). */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescapePointerToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Resolves a local JSON Pointer (`#/a/b` or `/a/b`) in the document; undefined when absent. */
export function resolvePointer(pointer: string, doc: Json = loadOpenApiDocument()): Json | undefined {
  const raw = pointer.startsWith('#') ? decodeURIComponent(pointer.slice(1)) : pointer;
  if (raw === '') return doc;
  if (!raw.startsWith('/')) return undefined;
  let node: Json | undefined = doc;
  for (const token of raw.slice(1).split('/').map(unescapePointerToken)) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      node = node[Number(token)];
    } else if (isObject(node)) {
      node = Object.prototype.hasOwnProperty.call(node, token) ? node[token] : undefined;
    } else {
      return undefined;
    }
    if (node === undefined) return undefined;
  }
  return node;
}

/** Follows `$ref`s (OpenAPI reference objects) until a non-reference node; returns it and its pointer. */
function deref(node: Json | undefined, pointer: string): { node: Json | undefined; pointer: string } {
  const seen = new Set<string>();
  while (isObject(node) && typeof node.$ref === 'string') {
    const ref = node.$ref;
    if (!ref.startsWith('#')) throw new Error(`external $ref not supported: ${ref} (at ${pointer})`);
    if (seen.has(ref)) throw new Error(`circular $ref ${ref} (at ${pointer})`);
    seen.add(ref);
    pointer = decodeURIComponent(ref.slice(1));
    node = resolvePointer(pointer);
    if (node === undefined) throw new Error(`unresolvable $ref ${ref}`);
  }
  return { node, pointer };
}

function child(pointer: string, ...tokens: string[]): string {
  return pointer + tokens.map((t) => '/' + escapePointerToken(t)).join('');
}

/** A validator for the schema at a JSON Pointer into the document (compiled once). */
export function getValidatorAt(pointer: string): ValidateFunction {
  let validate = validatorCache.get(pointer);
  if (!validate) {
    if (resolvePointer(pointer) === undefined) throw new Error(`no schema at #${pointer} in ${OPENAPI_FILE}`);
    const fragment = pointer
      .split('/')
      .map((t) => encodeURIComponent(t))
      .join('/');
    validate = getOpenApiAjv().compile({ $ref: `${OPENAPI_ID}#${fragment}` });
    validatorCache.set(pointer, validate);
  }
  return validate;
}

/** A validator for `#/components/schemas/<name>`. */
export function getComponentValidator(name: string): ValidateFunction {
  return getValidatorAt(child('/components/schemas', name));
}

/** Validates data against the schema at a pointer; returns readable failures (empty when valid). */
export function validateAt(pointer: string, data: unknown): string[] {
  const validate = getValidatorAt(pointer);
  return validate(data) ? [] : formatAjvErrors(validate.errors ?? []);
}

/** Validates data against `#/components/schemas/<name>`; returns readable failures (empty when valid). */
export function validateComponentSchema(name: string, data: unknown): string[] {
  return validateAt(child('/components/schemas', name), data);
}

/** Turns Ajv errors into one readable line each. */
export function formatAjvErrors(errors: ErrorObject[]): string[] {
  return errors.map((e) => {
    const where = e.instancePath === '' ? '(body)' : e.instancePath;
    const params = e.params as Record<string, unknown>;
    let extra = '';
    if (typeof params.additionalProperty === 'string') extra = `: '${params.additionalProperty}'`;
    else if (typeof params.unevaluatedProperty === 'string') extra = `: '${params.unevaluatedProperty}'`;
    else if (Array.isArray(params.allowedValues)) extra = `: ${JSON.stringify(params.allowedValues)}`;
    else if ('allowedValue' in params) extra = `: ${JSON.stringify(params.allowedValue)}`;
    const schemaPath = e.schemaPath.startsWith(`${OPENAPI_ID}#`) ? e.schemaPath.slice(OPENAPI_ID.length) : e.schemaPath;
    return `${where} ${e.message ?? 'is invalid'}${extra} (schema ${schemaPath})`;
  });
}

/** Finds the path template in the document for a template or a concrete path. */
function findPathTemplate(path: string): string | undefined {
  const paths = loadOpenApiDocument().paths;
  if (!isObject(paths)) return undefined;
  if (Object.prototype.hasOwnProperty.call(paths, path)) return path;
  const concrete = path.split('?')[0] ?? path;
  if (Object.prototype.hasOwnProperty.call(paths, concrete)) return concrete;
  for (const template of Object.keys(paths)) {
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => (/^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
      .join('');
    if (new RegExp(`^${pattern}$`).test(concrete)) return template;
  }
  return undefined;
}

function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }
  return undefined;
}

function mediaTypeMatches(declared: string, actual: string): boolean {
  const d = declared.split(';')[0]?.trim().toLowerCase() ?? '';
  if (d === actual || d === '*/*') return true;
  return d.endsWith('/*') && actual.startsWith(d.slice(0, -1));
}

function isJsonMediaType(mediaType: string): boolean {
  return mediaType === 'application/json' || /^[a-z0-9.+-]+\/[a-z0-9.+-]*\+json$/.test(mediaType);
}

/**
 * Throws an Error listing every way in which the response does not match the response object that
 * openapi.yaml declares for `method` on `path` (a path template such as '/admin/clients/{client_id}';
 * a concrete path is matched to its template) and `res.status` (or its `4XX` range, or `default`).
 *
 * Checks: the status is documented; every required header is present and every declared header
 * matches its schema; the Content-Type's media type is declared (not for 204/304/HEAD); the body
 * matches the media type's schema (JSON bodies, and `text/*` bodies as strings).
 * A method the path does not declare is accepted only as a 405, checked against the 405 response
 * documented on one of the path's operations.
 */
export function expectMatchesOpenApi(res: OpenApiCheckedResponse, method: string, path: string): void {
  const doc = loadOpenApiDocument();
  const verb = method.toLowerCase();
  const label = `${method.toUpperCase()} ${path} -> ${res.status}`;
  const fail = (failures: string[]): never => {
    let body: string;
    try {
      body = JSON.stringify(res.body);
    } catch {
      body = String(res.body);
    }
    if (body === undefined || body === '{}' || body === '""') body = JSON.stringify(res.text ?? res.body);
    if (body !== undefined && body.length > 2000) body = `${body.slice(0, 2000)}…`;
    const sent = res.req?.method && res.req?.path ? ` (request ${res.req.method} ${res.req.path})` : '';
    throw new Error(
      `Response does not match openapi.yaml: ${label}${sent}\n` +
        failures.map((f) => `  - ${f}`).join('\n') +
        `\n  body: ${body}`,
    );
  };

  const template = findPathTemplate(path);
  if (template === undefined) return fail([`path ${path} is not in the document`]);
  const pathPointer = child('/paths', template);
  const pathItem = resolvePointer(pathPointer, doc);
  if (!isObject(pathItem)) return fail([`path item ${template} is not an object`]);

  // Find the response object.
  let responsePointer: string | undefined;
  const operation = pathItem[verb];
  if (isObject(operation)) {
    const responses = operation.responses;
    if (!isObject(responses)) return fail([`${verb.toUpperCase()} ${template} has no responses`]);
    const key = [String(res.status), `${String(res.status).charAt(0)}XX`, 'default'].find((k) =>
      Object.prototype.hasOwnProperty.call(responses, k),
    );
    if (key === undefined) {
      return fail([
        `status ${res.status} is not documented for ${verb.toUpperCase()} ${template} ` +
          `(documented: ${Object.keys(responses).join(', ')})`,
      ]);
    }
    responsePointer = child(pathPointer, verb, 'responses', key);
  } else {
    const declared = HTTP_METHODS.filter((m) => isObject(pathItem[m]));
    if (res.status !== 405) {
      return fail([
        `${verb.toUpperCase()} is not an operation of ${template} (operations: ` +
          `${declared.map((m) => m.toUpperCase()).join(', ')}), so only a 405 is acceptable`,
      ]);
    }
    for (const m of declared) {
      const responses = (pathItem[m] as JsonObject).responses;
      if (isObject(responses) && responses['405'] !== undefined) {
        responsePointer = child(pathPointer, m, 'responses', '405');
        break;
      }
    }
    if (responsePointer === undefined) return fail([`no operation of ${template} documents a 405`]);
  }

  const { node: response, pointer: resolvedResponsePointer } = deref(
    resolvePointer(responsePointer, doc),
    responsePointer,
  );
  if (!isObject(response)) return fail([`response at #${responsePointer} is not an object`]);

  const failures: string[] = [];

  // Headers.
  if (isObject(response.headers)) {
    for (const [name, rawHeader] of Object.entries(response.headers)) {
      if (name.toLowerCase() === 'content-type') continue; // ignored by OpenAPI
      const headerPointer = child(resolvedResponsePointer, 'headers', name);
      const { node: header, pointer: resolvedHeaderPointer } = deref(rawHeader, headerPointer);
      if (!isObject(header)) continue;
      const value = headerValue(res.headers, name);
      if (value === undefined) {
        if (header.required === true) failures.push(`missing required header ${name}`);
        continue;
      }
      if (header.schema !== undefined) {
        const schemaPointer = child(resolvedHeaderPointer, 'schema');
        const { node: schema } = deref(header.schema, schemaPointer);
        const type = isObject(schema) ? schema.type : undefined;
        const numeric = (type === 'integer' || type === 'number') && /^-?[0-9]+(\.[0-9]+)?$/.test(value);
        for (const f of validateAt(schemaPointer, numeric ? Number(value) : value)) {
          failures.push(`header ${name} ${JSON.stringify(value)}: ${f.replace(/^\(body\) /, '')}`);
        }
      }
    }
  }

  // Content type and body.
  const bodyless = res.status === 204 || res.status === 304 || verb === 'head';
  const content = response.content;
  if (!bodyless && isObject(content) && Object.keys(content).length > 0) {
    const contentType = headerValue(res.headers, 'content-type');
    if (contentType === undefined) {
      failures.push(`missing Content-Type (declared: ${Object.keys(content).join(', ')})`);
    } else {
      const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
      const declared = Object.keys(content).find((k) => mediaTypeMatches(k, mediaType));
      if (declared === undefined) {
        failures.push(`Content-Type ${mediaType} is not declared (declared: ${Object.keys(content).join(', ')})`);
      } else {
        const media = content[declared];
        if (isObject(media) && media.schema !== undefined) {
          const schemaPointer = child(resolvedResponsePointer, 'content', declared, 'schema');
          let data: unknown;
          let check = true;
          if (isJsonMediaType(mediaType)) data = res.body;
          else if (mediaType.startsWith('text/')) data = typeof res.text === 'string' ? res.text : res.body;
          else check = false;
          if (check) failures.push(...validateAt(schemaPointer, data));
        }
      }
    }
  }

  if (failures.length > 0) fail(failures);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
