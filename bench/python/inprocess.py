"""In-process timing of handler.lambda_handler on the benchmark's SQS batch.

usage: inprocess.py EVENT_JSON_FILE SAMPLES ITERATIONS OUT_JSON_FILE
Writes {"us_per_batch": [...]} (one value per sample). Logs go to stdout; send them away.
"""

import json
import sys
import time

import handler


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 128
    aws_request_id = "8f5c2a9e-bench-4000-8000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 60_000


def main():
    event_file, samples, iterations, out_file = sys.argv[1:5]
    # The bytes arrive as JSON in Lambda too: decoding is part of the work.
    body = open(event_file, "rb").read()
    samples, iterations = int(samples), int(iterations)
    context = Context()
    for _ in range(iterations):  # warm-up
        handler.lambda_handler(json.loads(body), context)
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(iterations):
            json.dumps(handler.lambda_handler(json.loads(body), context))
        out.append((time.perf_counter() - start) * 1e6 / iterations)
    with open(out_file, "w") as f:
        json.dump({"us_per_batch": out}, f)


if __name__ == "__main__":
    main()
