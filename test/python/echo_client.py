"""Calls grpcha.example.v1.Echo through a target with Debian's python3-grpcio, no generated code.

Messages are encoded by hand (protobuf wire format: field 1 = string, tag 0x0a) so nothing has to
be generated at install time. Prints one JSON object: what the server answered to a unary call
and to a server-streaming call, or the status code and details of a failed call.

    python3 echo_client.py 127.0.0.1:8080
"""
import json
import sys

import grpc


def varint(n):
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string_field(number, text):
    data = text.encode("utf-8")
    return varint(number << 3 | 2) + varint(len(data)) + data


def read_varint(data, i):
    """The varint at data[i:] and the index after it."""
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def decode(data):
    """Field number -> list of raw values (length-delimited as bytes, varints as int)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        value, i = read_varint(data, i)
        if wire == 2:
            fields.setdefault(number, []).append(data[i:i + value])
            i += value
        else:
            fields.setdefault(number, []).append(value)
    return fields


def reply(data):
    f = decode(data)
    return {
        "message": f.get(1, [b""])[0].decode("utf-8"),
        "server_id": f.get(2, [b""])[0].decode("utf-8"),
    }


def main():
    target = sys.argv[1]
    identity = lambda b: b  # noqa: E731 - requests and replies are already bytes
    with grpc.insecure_channel(target) as channel:
        unary = channel.unary_unary("/grpcha.example.v1.Echo/Unary", request_serializer=identity, response_deserializer=identity)
        stream = channel.unary_stream("/grpcha.example.v1.Echo/ServerStream", request_serializer=identity, response_deserializer=identity)
        result = {}
        try:
            result["unary"] = reply(unary(string_field(1, "from python"), timeout=5, metadata=(("x-client", "python"),)))
            request = string_field(1, "py") + varint(2 << 3 | 0) + varint(3)  # StreamRequest{message: "py", count: 3}
            result["stream"] = [reply(r)["message"] for r in stream(request, timeout=5)]
        except grpc.RpcError as error:
            result["error"] = {"code": error.code().name, "details": error.details()}
        try:
            missing = channel.unary_unary("/grpcha.example.v1.Missing/Call", request_serializer=identity, response_deserializer=identity)
            missing(b"", timeout=5)
        except grpc.RpcError as error:
            result["missing"] = {"code": error.code().name, "details": error.details()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
