/**
 * RFC 9113 §8 validation of requests, responses and trailers, one row per rule: each malformed
 * case is refused with a reason naming what is wrong, and the well-formed ones gRPC peers send
 * pass.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isInterimResponse,
  REQUEST as REQUEST_SECTION,
  RESPONSE as RESPONSE_SECTION,
  requestFieldsError,
  responseFieldsError,
  sectionError,
  trailerFieldsError,
  TRAILERS as TRAILERS_SECTION,
} from './message-fields.js';

const REQUEST = [':method', 'POST', ':scheme', 'http', ':path', '/pkg.Svc/Call', ':authority', 'backend:50051', 'content-type', 'application/grpc', 'te', 'trailers'];
const RESPONSE = [':status', '200', 'content-type', 'application/grpc', 'grpc-encoding', 'identity'];

/** REQUEST with `name`'s value replaced, or the field removed when `value` is null. */
function requestWith(name: string, value: string | null): string[] {
  const out: string[] = [];
  for (let i = 0; i < REQUEST.length; i += 2) {
    if (REQUEST[i] !== name) out.push(REQUEST[i]!, REQUEST[i + 1]!);
    else if (value !== null) out.push(name, value);
  }
  return out;
}

describe('message fields: requests (RFC 9113 §8.2, §8.3.1)', () => {
  it('accepts what gRPC clients send', () => {
    assert.equal(requestFieldsError(REQUEST), null);
    assert.equal(requestFieldsError([...REQUEST, 'grpc-timeout', '1S', 'x-bin', 'AAEC', 'x-m', 'a', 'x-m', 'b', 'empty', '']), null);
    assert.equal(requestFieldsError(requestWith(':authority', null)), null, ':authority is optional');
    assert.equal(requestFieldsError([':method', 'OPTIONS', ':scheme', 'https', ':path', '*']), null);
    assert.equal(requestFieldsError([':method', 'CONNECT', ':authority', 'example.com:443']), null);
    assert.equal(requestFieldsError([...REQUEST, 'host', 'backend:50051']), null);
  });

  const malformed: [string, string[], RegExp][] = [
    ['a second :path (route bypass)', [...REQUEST.slice(0, 6), ':path', '/admin.Secret/Delete', ...REQUEST.slice(6)], /:path appears more than once/],
    ['a second :method', [':method', 'POST', ':method', 'GET', ...REQUEST.slice(2)], /:method appears more than once/],
    ['a second :scheme', [...REQUEST.slice(0, 4), ':scheme', 'https', ...REQUEST.slice(4)], /:scheme appears more than once/],
    ['a second :authority', [...REQUEST.slice(0, 8), ':authority', 'other', ...REQUEST.slice(8)], /:authority appears more than once/],
    ['no :method', requestWith(':method', null), /no :method/],
    ['an empty :method', requestWith(':method', ''), /no :method/],
    ['no :scheme', requestWith(':scheme', null), /no :scheme/],
    ['no :path', requestWith(':path', null), /no :path/],
    ['an empty :path', requestWith(':path', ''), /no :path/],
    ['a :path not starting with /', requestWith(':path', 'pkg.Svc/Call'), /does not start with/],
    ['a response pseudo-header', [...REQUEST.slice(0, 8), ':status', '200', ...REQUEST.slice(8)], /:status is not a request pseudo-header/],
    ['an unknown pseudo-header', [':protocol', 'websocket', ...REQUEST], /:protocol is not a request/],
    ['a pseudo-header after a regular field', [...REQUEST.slice(0, 6), 'x-a', 'b', ...REQUEST.slice(6, 8)], /:authority after a regular field/],
    ['an uppercase field name', [...REQUEST, 'X-Upper', 'v'], /uppercase field name "X-Upper"/],
    ['a space in a field name', [...REQUEST, 'x a', 'v'], /invalid character 0x20/],
    ['a colon inside a field name', [...REQUEST, 'x:a', 'v'], /invalid character 0x3a/],
    ['a non-ASCII field name', [...REQUEST, 'x-\u00e9', 'v'], /invalid character 0xe9/],
    ['an empty field name', [...REQUEST, '', 'v'], /empty field name/],
    ['a value with CR LF (response splitting)', [...REQUEST, 'x-a', 'v\r\nx-b: w'], /NUL, CR or LF/],
    ['a value with NUL', [...REQUEST, 'x-a', 'v\u0000'], /NUL, CR or LF/],
    ['a value with leading whitespace', [...REQUEST, 'x-a', ' v'], /leading or trailing whitespace/],
    ['a value with a trailing tab', [...REQUEST, 'x-a', 'v\t'], /leading or trailing whitespace/],
    ['connection', [...REQUEST, 'connection', 'close'], /connection-specific field connection/],
    ['keep-alive', [...REQUEST, 'keep-alive', 'timeout=5'], /connection-specific field keep-alive/],
    ['proxy-connection', [...REQUEST, 'proxy-connection', 'keep-alive'], /connection-specific field proxy-connection/],
    ['transfer-encoding', [...REQUEST, 'transfer-encoding', 'chunked'], /connection-specific field transfer-encoding/],
    ['upgrade', [...REQUEST, 'upgrade', 'h2c'], /connection-specific field upgrade/],
    ['te other than trailers', requestWith('te', 'gzip'), /only "trailers"/],
    ['host unlike :authority', [...REQUEST, 'host', 'elsewhere'], /host differs from :authority/],
    ['CONNECT with :path', [':method', 'CONNECT', ':authority', 'a:1', ':path', '/'], /CONNECT request with :scheme or :path/],
    ['CONNECT without :authority', [':method', 'CONNECT'], /CONNECT request without :authority/],
  ];
  for (const [what, fields, reason] of malformed) {
    it(`refuses ${what}`, () => assert.match(requestFieldsError(fields) ?? 'accepted', reason));
  }
});

describe('message fields: responses and trailers (RFC 9113 §8.1, §8.3.2)', () => {
  it('accepts what gRPC servers send', () => {
    assert.equal(responseFieldsError(RESPONSE), null);
    assert.equal(responseFieldsError([':status', '200', 'content-type', 'application/grpc', 'grpc-status', '0', 'grpc-message', '']), null, 'Trailers-Only');
    assert.equal(trailerFieldsError(['grpc-status', '0', 'grpc-message', 'ok%20fine', 'x-trailer-bin', 'AAE=']), null);
    assert.equal(responseFieldsError([':status', '100']), null);
    assert.equal(isInterimResponse([':status', '103']), true);
    assert.equal(isInterimResponse(RESPONSE), false);
  });

  const malformed: [string, string[], RegExp][] = [
    ['no :status', ['content-type', 'application/grpc'], /no :status/],
    ['a second :status', [':status', '200', ':status', '500'], /:status appears more than once/],
    ['a request pseudo-header', [':status', '200', ':path', '/x'], /:path is not a response pseudo-header/],
    ['a pseudo-header after a regular field', ['content-type', 'application/grpc', ':status', '200'], /:status after a regular field/],
    ['a non-numeric :status', [':status', 'OK'], /not a three-digit status code/],
    ['101 Switching Protocols', [':status', '101'], /101/],
    ['an uppercase field name', [':status', '200', 'Content-Type', 'application/grpc'], /uppercase field name "Content-Type"/],
    ['connection: close', [':status', '200', 'connection', 'close'], /connection-specific field connection/],
    ['a value with CR LF', [':status', '200', 'grpc-message', 'a\r\nb'], /NUL, CR or LF/],
  ];
  for (const [what, fields, reason] of malformed) {
    it(`refuses a response with ${what}`, () => assert.match(responseFieldsError(fields) ?? 'accepted', reason));
  }

  const badTrailers: [string, string[], RegExp][] = [
    ['a pseudo-header', ['grpc-status', '0', ':status', '200'], /pseudo-header field :status in trailers/],
    ['an uppercase name', ['Grpc-Status', '0'], /uppercase field name/],
    ['transfer-encoding', ['grpc-status', '0', 'transfer-encoding', 'chunked'], /connection-specific/],
  ];
  for (const [what, fields, reason] of badTrailers) {
    it(`refuses trailers with ${what}`, () => assert.match(trailerFieldsError(fields) ?? 'accepted', reason));
  }
});

describe('message fields: checks kept with a remembered block', () => {
  it('checks a block once per kind of section, and each kind by its own rules', () => {
    const block = { fields: [':status', '200', 'grpc-status', '0'], size: 0, oversized: false, checks: [] as (string | null | undefined)[] };
    assert.equal(sectionError(block, RESPONSE_SECTION), null);
    assert.match(sectionError(block, TRAILERS_SECTION) ?? 'accepted', /pseudo-header field :status in trailers/);
    assert.match(sectionError(block, REQUEST_SECTION) ?? 'accepted', /not a request pseudo-header field/);
    assert.deepEqual(block.checks, [sectionError(block, REQUEST_SECTION), null, sectionError(block, TRAILERS_SECTION)]);
    // The kept answer is what is returned: the list is never looked at again.
    block.checks[RESPONSE_SECTION] = 'kept';
    assert.equal(sectionError(block, RESPONSE_SECTION), 'kept');
    // A block the decoder does not remember is checked every time.
    assert.equal(sectionError({ ...block, checks: null }, RESPONSE_SECTION), null);
  });
});

