"""Hand-made HTTP/2 peers for the proxy's security tests, on Debian's python3-h2 (and the
hyperframe it brings): a backend that answers with malformed responses or a graceful GOAWAY,
and clients that send what no gRPC library would. Every line it prints is one JSON object.

    python3 h2_peer.py serve MODE          prints {"port": N}, then one line per request served
        MODE: malformed  (the method name picks the flaw of the response headers: uppercase,
                          no-status or connection; DATA and grpc-status 0 trailers follow)
              goaway-unprocessed  (connection 1: waits for two requests, answers the first, then
                                   GOAWAY NO_ERROR with last-stream-id = the first; later
                                   connections answer every request)
    python3 h2_peer.py duplicate-path PORT FIRST SECOND
        one gRPC request whose header block carries :path FIRST and then :path SECOND; prints how
        the stream ended: {"reset": code} or {"status": "...", "message": "..."}
    python3 h2_peer.py hpack-bomb PORT BLOCKS [KIND [CONNECTIONS]]
        BLOCKS requests as fast as the proxy takes them, each a 32 KB header block: KIND "bomb"
        (the default) inserts one 4 KB entry into the HPACK dynamic table and references it
        28,000 times (113 MB once decoded), "plain" is one 32 KB literal; a connection the proxy
        closes is replaced, up to CONNECTIONS (default 1); prints the blocks sent and answered,
        the connections used and the GOAWAY codes received
"""
import json
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import ContinuationFrame, Frame, GoAwayFrame, HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
OK_TRAILERS = [("grpc-status", "0")]
lock = threading.Lock()


def emit(obj):
    with lock:
        print(json.dumps(obj), flush=True)


def lenient(client_side):
    """An h2 state machine that sends and accepts whatever it is given (the point of these peers)."""
    return h2.config.H2Configuration(
        client_side=client_side,
        header_encoding="latin1",
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
    )


MALFORMED = {
    "uppercase": [(":status", "200"), ("Content-Type", "application/grpc")],
    "no-status": [("content-type", "application/grpc")],
    "connection": [(":status", "200"), ("content-type", "application/grpc"), ("connection", "close")],
}


def answer(conn, stream_id, body, headers=None):
    """A whole gRPC response echoing the request body (already length-prefixed)."""
    conn.send_headers(stream_id, headers or [(":status", "200"), ("content-type", "application/grpc")])
    conn.send_data(stream_id, body)
    conn.send_headers(stream_id, OK_TRAILERS, end_stream=True)


def serve_connection(sock, mode, number):
    conn = h2.connection.H2Connection(config=lenient(False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}  # stream id -> [path, body]
    ended = []
    goaway_sent = False
    deadline = time.monotonic() + 3
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    path = dict((k if isinstance(k, str) else k.decode("latin1"), v) for k, v in event.headers).get(":path")
                    requests[event.stream_id] = [path if isinstance(path, str) else path.decode("latin1"), b""]
                elif isinstance(event, h2.events.DataReceived):
                    requests[event.stream_id][1] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.append(event.stream_id)
            if mode == "malformed":
                for stream_id in ended:
                    path = requests[stream_id][0]
                    emit({"event": "request", "connection": number, "stream": stream_id, "path": path})
                    answer(conn, stream_id, requests[stream_id][1], MALFORMED[path.rsplit("/", 1)[-1]])
                ended.clear()
            elif mode == "goaway-unprocessed":
                if number > 1:
                    for stream_id in ended:
                        emit({"event": "request", "connection": number, "stream": stream_id, "path": requests[stream_id][0]})
                        answer(conn, stream_id, requests[stream_id][1])
                    ended.clear()
                elif not goaway_sent and (len(ended) >= 2 or (ended and time.monotonic() > deadline)):
                    first = min(ended)
                    emit({"event": "request", "connection": number, "stream": first, "path": requests[first][0]})
                    answer(conn, first, requests[first][1])
                    # "GOAWAY ... last-stream-id ... streams with identifiers higher ... were not processed" - RFC 9113 §6.8.
                    conn.close_connection(error_code=0, last_stream_id=first)
                    emit({"event": "goaway", "connection": number, "lastStreamId": first, "unprocessed": [s for s in ended if s != first]})
                    goaway_sent = True
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def serve(mode):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    emit({"port": server.getsockname()[1]})
    number = 0
    while True:
        sock, _ = server.accept()
        number += 1
        threading.Thread(target=serve_connection, args=(sock, mode, number), daemon=True).start()


def grpc_request_headers(path, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
            ("content-type", "application/grpc"), ("te", "trailers"), *extra]


def duplicate_path(port, first, second):
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(config=lenient(True))
    conn.initiate_connection()
    headers = grpc_request_headers(first)
    headers.insert(3, (":path", second))
    conn.send_headers(1, headers)
    conn.send_data(1, b"\x00\x00\x00\x00\x00", end_stream=True)
    sock.sendall(conn.data_to_send())
    sock.settimeout(5)
    result = {}
    fields = {}
    try:
        while "reset" not in result and "status" not in result:
            data = sock.recv(65536)
            if not data:
                result["closed"] = True
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.StreamReset):
                    result["reset"] = event.error_code
                elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    fields.update((k if isinstance(k, str) else k.decode("latin1"), v if isinstance(v, str) else v.decode("latin1")) for k, v in event.headers)
                    if "grpc-status" in fields:
                        result["status"] = fields["grpc-status"]
                        result["message"] = fields.get("grpc-message", "")
            sock.sendall(conn.data_to_send())
    except socket.timeout:
        result["timeout"] = True
    emit(result)


def hpack_int(value, prefix_bits, first):
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value, first=0x00):
    """RFC 7541 §6.2 literal with a new name: 0x40 with incremental indexing, 0x00 without."""
    n, v = name.encode("latin1"), value.encode("latin1")
    return bytes([first]) + hpack_int(len(n), 7, 0) + n + hpack_int(len(v), 7, 0) + v


def bomb_block(kind):
    # :method POST (static 3), :scheme http (static 6), then literals; a dynamic entry of
    # 6 + 4000 + 32 = 4038 octets fits the default 4096-octet table and is index 62.
    block = bytes([0x83, 0x86]) + literal(":path", "/grpcha.example.v1.Echo/Unary") + literal("content-type", "application/grpc")
    if kind == "plain":
        return block + literal("x-plain", "a" * 32000)
    block += literal("x-bomb", "a" * 4000, 0x40)
    return block + bytes([0x80 | 62]) * 28000


def bomb_connection(port, block, blocks):
    """Sends up to `blocks` header blocks on one connection; returns (sent, answered, goaway code)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(PREFACE + SettingsFrame(0).serialize())
    state = {"answered": 0, "goaway": None, "closed": False}

    def read():
        buf = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 9:
                    frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
                    if len(buf) < 9 + length:
                        break
                    frame.parse_body(memoryview(buf[9:9 + length]))
                    buf = buf[9 + length:]
                    if isinstance(frame, HeadersFrame):
                        state["answered"] += 1
                    elif isinstance(frame, GoAwayFrame):
                        state["goaway"] = frame.error_code
                    elif isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                        sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        except OSError:
            pass
        state["closed"] = True

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        for i in range(blocks):
            if state["closed"] or state["goaway"] is not None:
                break
            stream_id = 1 + 2 * i
            first = HeadersFrame(stream_id, block[:16384], flags=["END_STREAM"])
            rest = ContinuationFrame(stream_id, block[16384:], flags=["END_HEADERS"])
            sock.sendall(first.serialize() + rest.serialize())
            sent += 1
    except OSError:
        pass
    if sent == blocks:
        # Every block sent: wait for the answers (or the end of the connection).
        deadline = time.monotonic() + 5
        while not state["closed"] and state["answered"] < sent and state["goaway"] is None and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        reader.join(5)
    sock.close()
    return sent, state["answered"], state["goaway"]


def hpack_bomb(port, blocks, kind, connections):
    block = bomb_block(kind)
    sent = answered = used = 0
    goaways = {}
    while sent < blocks and used < connections:
        used += 1
        s, a, g = bomb_connection(port, block, blocks - sent)
        sent += s
        answered += a
        if g is not None:
            goaways[str(g)] = goaways.get(str(g), 0) + 1
    emit({"sent": sent, "answered": answered, "connections": used, "goaways": goaways})


def main():
    command = sys.argv[1]
    if command == "serve":
        serve(sys.argv[2])
    elif command == "duplicate-path":
        duplicate_path(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif command == "hpack-bomb":
        args = sys.argv[2:] + ["bomb", "1"][len(sys.argv) - 4:]
        hpack_bomb(int(args[0]), int(args[1]), args[2], int(args[3]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
