"""Calls grpcha.example.v1.Echo/Unary in a loop through a target (e.g. xds:///echo) with Debian's
python3-grpcio, and prints one JSON line per call: which server answered and when, or the error.

    GRPC_XDS_BOOTSTRAP=bootstrap.json python3 xds_client.py xds:///echo --interval-ms 5 --keys a,b

--keys cycles the value of the --header metadata over the calls (for ring hash); the loop ends
after --duration-s (a bound: the tests stop it sooner with SIGTERM) or --count calls.
"""
import argparse
import json
import os
import signal
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_client import reply, string_field  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--interval-ms", type=float, default=5)
    parser.add_argument("--keys", default="")
    parser.add_argument("--header", default="x-user")
    parser.add_argument("--duration-s", type=float, default=60)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=2)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    keys = [k for k in args.keys.split(",") if k]
    identity = lambda b: b  # noqa: E731 - requests and replies are already bytes
    end = time.monotonic() + args.duration_s
    n = 0
    with grpc.insecure_channel(args.target) as channel:
        unary = channel.unary_unary("/grpcha.example.v1.Echo/Unary", request_serializer=identity, response_deserializer=identity)
        print(json.dumps({"event": "started", "pid": os.getpid(), "grpc": grpc.__version__}), flush=True)
        while time.monotonic() < end and (args.count == 0 or n < args.count):
            key = keys[n % len(keys)] if keys else None
            metadata = ((args.header, key),) if key else None
            line = {"n": n}
            if key:
                line["key"] = key
            try:
                line["server"] = reply(unary(string_field(1, "xds"), timeout=args.timeout_s, metadata=metadata))["server_id"]
            except grpc.RpcError as error:
                line["error"] = "%s: %s" % (error.code().name, error.details())
            line["at"] = time.time() * 1000
            print(json.dumps(line), flush=True)
            n += 1
            time.sleep(args.interval_ms / 1000)


if __name__ == "__main__":
    main()
