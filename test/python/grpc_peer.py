"""gRPC peers on Debian's python3-grpcio (C core) for the proxy's security tests, no generated
code. Every line it prints is one JSON object.

    python3 grpc_peer.py serve [MAX_CONNECTION_AGE_MS]
        a server that answers every unary method by echoing the request bytes, and prints
        {"port": N}, then {"event": "call", "method": "/pkg.Svc/M"} per call it executes; with
        MAX_CONNECTION_AGE_MS it ends each connection with a graceful GOAWAY after that long
        (grpc.max_connection_age_ms, as grpc-go's MaxConnectionAge)
    python3 grpc_peer.py cancel-streams TARGET COUNT THREADS
        COUNT server-streaming calls to grpcha.example.v1.Echo/ServerStream over one channel,
        THREADS at a time, each cancelled after its first message (a client that only wanted
        the first result); prints {"ok": n, "failed": {"CODE: details": n}}
"""
import json
import sys
import threading
from concurrent import futures

import grpc

identity = lambda b: b  # noqa: E731 - requests and replies stay bytes


class EchoAnything(grpc.GenericRpcHandler):
    def service(self, details):
        method = details.method

        def echo(request, context):
            print(json.dumps({"event": "call", "method": method}), flush=True)
            return request

        return grpc.unary_unary_rpc_method_handler(echo)


def serve(max_age_ms):
    options = []
    if max_age_ms:
        options = [("grpc.max_connection_age_ms", max_age_ms), ("grpc.max_connection_age_grace_ms", 5000)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[EchoAnything()], options=options)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(json.dumps({"port": port}), flush=True)
    server.wait_for_termination()


def varint(n):
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def cancel_streams(target, count, threads):
    # StreamRequest{message: "c", count: 1000}: far more replies than anyone reads.
    request = b"\x0a\x01c" + varint(2 << 3) + varint(1000)
    ok = 0
    failed = {}
    lock = threading.Lock()
    remaining = [count]
    with grpc.insecure_channel(target) as channel:
        stream = channel.unary_stream("/grpcha.example.v1.Echo/ServerStream", request_serializer=identity, response_deserializer=identity)

        def worker():
            nonlocal ok
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                call = stream(request, timeout=10)
                try:
                    next(call)
                    call.cancel()
                    with lock:
                        ok += 1
                except grpc.RpcError as error:
                    key = f"{error.code().name}: {error.details()}"
                    with lock:
                        failed[key] = failed.get(key, 0) + 1

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    print(json.dumps({"ok": ok, "failed": failed}), flush=True)


def main():
    command = sys.argv[1]
    if command == "serve":
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elif command == "cancel-streams":
        cancel_streams(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
