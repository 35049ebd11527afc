/** The frame encoders against the RFC 9113 §4.1 layout. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, errorCodeName, FrameType, goawayFrame, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame } from './frame.js';

const header = (f: Buffer) => ({ length: f.readUIntBE(0, 3), type: f[3], flags: f[4], stream: f.readUInt32BE(5) });

describe('h2 frames', () => {
  it('encodes SETTINGS, WINDOW_UPDATE, RST_STREAM and GOAWAY with their RFC 9113 layouts', () => {
    const s = settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20], [Setting.MAX_CONCURRENT_STREAMS, 100]]);
    assert.deepEqual(header(s), { length: 12, type: FrameType.SETTINGS, flags: 0, stream: 0 });
    assert.deepEqual([s.readUInt16BE(9), s.readUInt32BE(11), s.readUInt16BE(15), s.readUInt32BE(17)], [4, 1 << 20, 3, 100]);
    const w = windowUpdateFrame(7, 12345);
    assert.deepEqual(header(w), { length: 4, type: FrameType.WINDOW_UPDATE, flags: 0, stream: 7 });
    assert.equal(w.readUInt32BE(9), 12345);
    const r = rstStreamFrame(3, ErrorCode.CANCEL);
    assert.deepEqual([header(r).type, header(r).stream, r.readUInt32BE(9)], [FrameType.RST_STREAM, 3, 8]);
    const g = goawayFrame(9, ErrorCode.ENHANCE_YOUR_CALM, 'calm');
    assert.deepEqual(header(g), { length: 12, type: FrameType.GOAWAY, flags: 0, stream: 0 });
    assert.deepEqual([g.readUInt32BE(9), g.readUInt32BE(13), g.subarray(17).toString()], [9, 0xb, 'calm']);
  });

  it('names error codes for messages', () => {
    assert.equal(errorCodeName(ErrorCode.REFUSED_STREAM), 'REFUSED_STREAM');
    assert.equal(errorCodeName(0x99), 'error code 153');
  });
});
