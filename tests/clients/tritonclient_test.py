#!/usr/bin/env python3
"""Protocol checks of a running `kiln serve` with the real Triton client (tritonclient).

Usage: python3 tests/clients/tritonclient_test.py HTTP_HOST:PORT GRPC_HOST:PORT
The server must serve examples/model_repository in explicit mode with every model loaded
(`--model-control-mode explicit --load-model '*'`), plus the model `cnn_priority` (the
example CNN with the dynamic batching block of PRIORITY_CONFIG below; the Rust test
crates/server/tests/server_tritonclient.rs writes it; `--priority-config` prints the block) and
a body/message limit of 8 MiB
(`--max-message-mib 8`). Exits 0 when every check passes; otherwise prints the failed check
and exits 1. Needs: pip install "tritonclient[all]".
"""

import http.client
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype


# The dynamic batching block of `cnn_priority`: two priority levels (default 2); level 2
# rejects requests queued for more than 1 ms; level 1 has no timeout but lets requests set
# one; the batcher holds a lone request up to 300 ms waiting for a batch of 16.
PRIORITY_CONFIG = """dynamic_batching {
  preferred_batch_size: [ 16 ]
  max_queue_delay_microseconds: 300000
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy { allow_timeout_override: true }
  priority_queue_policy {
    key: 2
    value: { timeout_action: REJECT default_timeout_microseconds: 1000 }
  }
}"""

BODY_LIMIT = 8 << 20


def simple_inputs(module, binary=None):
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.full((1, 16), 3, dtype=np.int32)
    inputs = []
    for name, x in (("INPUT0", a), ("INPUT1", b)):
        t = module.InferInput(name, list(x.shape), np_to_triton_dtype(x.dtype))
        if binary is None:
            t.set_data_from_numpy(x)
        else:
            t.set_data_from_numpy(x, binary_data=binary)
        inputs.append(t)
    return a, b, inputs


def expect_error(what, fn, *fragments):
    try:
        fn()
    except InferenceServerException as e:
        msg = e.message()
        for f in fragments:
            assert f in msg, f"{what}: expected {f!r} in the error, got {msg!r}"
        return msg
    raise AssertionError(f"{what}: no error was raised")


def check_http(url):
    c = httpclient.InferenceServerClient(url=url)
    assert c.is_server_live() and c.is_server_ready(), "http: server not live/ready"
    meta = c.get_server_metadata()
    assert meta["name"] == "kiln", meta
    assert "binary_tensor_data" in meta["extensions"], meta
    md = c.get_model_metadata("simple")
    assert [i["name"] for i in md["inputs"]] == ["INPUT0", "INPUT1"], md
    assert c.get_model_config("simple")["max_batch_size"] == 8
    assert c.is_model_ready("simple")

    for binary in (False, True):
        a, b, inputs = simple_inputs(httpclient, binary)
        outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
                   httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary)]
        r = c.infer("simple", inputs, outputs=outputs, request_id="h1")
        assert (r.as_numpy("OUTPUT0") == a + b).all(), f"http sum (binary={binary})"
        assert (r.as_numpy("OUTPUT1") == a - b).all(), f"http difference (binary={binary})"
        assert r.get_response()["id"] == "h1"

    # Classification with labels.
    img = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    t = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    t.set_data_from_numpy(img)
    r = c.infer("cnn_classifier", [t],
                outputs=[httpclient.InferRequestedOutput("probs", class_count=3)])
    top = r.as_numpy("probs")
    assert top.shape == (1, 3), top.shape
    assert len(top[0][0].decode().split(":")) == 3, top

    # Priority and timeout parameters are accepted by the dynamic batcher.
    t = httpclient.InferInput("input", [1, 3, 32, 32], "FP32")
    t.set_data_from_numpy(img)
    r = c.infer("cnn_dynamic", [t], priority=1, timeout=10_000_000)
    assert r.as_numpy("probs").shape == (1, 10)

    # Errors as Triton words them.
    _, _, inputs = simple_inputs(httpclient)
    expect_error("http unknown model", lambda: c.infer("nope", inputs),
                 "Request for unknown model")
    bad = httpclient.InferInput("INPUT0", [2, 8], "INT32")
    bad.set_data_from_numpy(np.zeros((2, 8), dtype=np.int32))
    expect_error("http wrong shape", lambda: c.infer("simple", [bad, inputs[1]]),
                 "unexpected shape for input 'INPUT0'")
    bad = httpclient.InferInput("INPUT1", [1, 16], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 16), dtype=np.float32))
    expect_error("http wrong datatype", lambda: c.infer("simple", [inputs[0], bad]),
                 "data-type is 'FP32'")

    stats = c.get_inference_statistics("simple")["model_stats"][0]
    assert int(stats["inference_stats"]["success"]["count"]) >= 2, stats

    check_priorities(httpclient, c, img, "http")

    # A binary body cut short: 400 with a JSON error naming the input, as Triton answers.
    _, _, inputs = simple_inputs(httpclient, True)
    body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs)
    status, answer = raw_post(url, "/v2/models/simple/infer", body[:-10],
                              {"Inference-Header-Content-Length": str(json_size)})
    assert status == 400, f"truncated body: status {status}"
    err = json.loads(answer)["error"]
    assert "INPUT1" in err and "binary data" in err, err

    # A body over the limit: a JSON error through tritonclient, and the server keeps serving.
    big = httpclient.InferInput("INPUT0", [1, BODY_LIMIT // 4 + 1024], "INT32")
    big.set_data_from_numpy(np.zeros((1, BODY_LIMIT // 4 + 1024), dtype=np.int32), binary_data=True)
    expect_error("http body over the limit", lambda: c.infer("simple", [big, inputs[1]]),
                 "limit")
    a, b, inputs = simple_inputs(httpclient, True)
    r = c.infer("simple", inputs)
    assert (r.as_numpy("OUTPUT0") == a + b).all(), "http sum after an oversized body"

    # Repository control (explicit mode).
    index = {m["name"]: m for m in c.get_model_repository_index()}
    assert index["simple"]["state"] == "READY", index
    c.unload_model("mlp_autocomplete")
    assert not c.is_model_ready("mlp_autocomplete")
    c.load_model("mlp_autocomplete")
    assert c.is_model_ready("mlp_autocomplete")
    cfg = c.get_model_config("mlp_autocomplete")
    assert cfg["input"][0]["name"] == "x", cfg
    print("http: ok")


def check_grpc(url):
    c = grpcclient.InferenceServerClient(url=url)
    assert c.is_server_live() and c.is_server_ready(), "grpc: server not live/ready"
    assert c.get_server_metadata().name == "kiln"
    md = c.get_model_metadata("simple")
    assert [i.name for i in md.inputs] == ["INPUT0", "INPUT1"], md
    assert c.get_model_config("simple").config.max_batch_size == 8
    a, b, inputs = simple_inputs(grpcclient)
    r = c.infer("simple", inputs, request_id="g1")
    assert (r.as_numpy("OUTPUT0") == a + b).all(), "grpc sum"
    assert (r.as_numpy("OUTPUT1") == a - b).all(), "grpc difference"
    expect_error("grpc unknown model", lambda: c.infer("nope", inputs),
                 "Request for unknown model")
    stats = c.get_inference_statistics("simple")
    assert stats.model_stats[0].inference_count >= 1

    img = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    check_priorities(grpcclient, c, img, "grpc")

    # A message over the limit: RESOURCE_EXHAUSTED, and the server keeps serving.
    big = grpcclient.InferInput("INPUT0", [1, BODY_LIMIT // 4 + 1024], "INT32")
    big.set_data_from_numpy(np.zeros((1, BODY_LIMIT // 4 + 1024), dtype=np.int32))
    try:
        c.infer("simple", [big, inputs[1]])
        raise AssertionError("grpc message over the limit: no error was raised")
    except InferenceServerException as e:
        assert "RESOURCE_EXHAUSTED" in str(e.status()), (e.status(), e.message())
    r = c.infer("simple", inputs)
    assert (r.as_numpy("OUTPUT0") == a + b).all(), "grpc sum after an oversized message"
    print("grpc: ok")


def check_priorities(module, c, img, proto):
    """Priority levels and queue timeouts on `cnn_priority` (see PRIORITY_CONFIG)."""
    t = module.InferInput("input", [1, 3, 32, 32], "FP32")
    t.set_data_from_numpy(img)
    # Default level 2: queued longer than its 1 ms timeout, rejected.
    expect_error(f"{proto} queue timeout", lambda: c.infer("cnn_priority", [t]),
                 "Request timeout expired")
    # Level 1 has no timeout: served once the batcher's 300 ms delay passes.
    r = c.infer("cnn_priority", [t], priority=1)
    assert r.as_numpy("probs").shape == (1, 10), f"{proto} priority 1"
    # Level 1 allows a request's own timeout: 1 ms, shorter than the delay, rejected.
    expect_error(f"{proto} timeout override",
                 lambda: c.infer("cnn_priority", [t], priority=1, timeout=1000),
                 "Request timeout expired")


def raw_post(url, path, body, headers):
    conn = http.client.HTTPConnection(url, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def main():
    if sys.argv[1:] == ["--priority-config"]:
        print(PRIORITY_CONFIG)
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        check_http(sys.argv[1])
        check_grpc(sys.argv[2])
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
