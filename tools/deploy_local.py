"""`make deploy-local`: the SAM application deployed into moto and driven through its event
sources, as in AWS but on this machine.

    deploy_local.py [--template target/sam-build/template.yaml] [--stack tern-local]
                    [--parameter Name=Value ...] [--image URI=LOCAL ...] [--no-drive]

1. starts moto_server, deploys the `sam build` output into its CloudFormation (completed
   through the service APIs where moto falls short) and prints the deployed configuration
   as read back from the APIs;
2. unless --no-drive: runs the deployed functions under the Runtime Interface Emulator (the
   layer's bootstrap; an image function from the local image --image maps its ImageUri to),
   starts the event sources as Lambda would poll and deliver them, puts the sample events of
   events/ on the queues, the stream, the topic and the bucket, and prints what became of
   them: per event source, the invocations it made and the records in each (what the source
   delivered to which function), then the checks of tools/localdeploy/acceptance.py, every SQS
   and Kinesis batch within its mapping's BatchSize included; then sends HTTP requests through
   the deployed HTTP API to the api function (tools/localdeploy/orders_api.py, with API
   Gateway's request handling emulated by tools/localdeploy/httpapi.py). Exit status 1 if a
   check fails.

`make demo SOURCES=deployed` runs this too: the demo through the deployed event sources.
"""

import argparse
import glob
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import samtemplate  # noqa: E402
from localdeploy import acceptance, orders_api  # noqa: E402
from localdeploy.aws import Clients, MotoServer  # noqa: E402
from localdeploy.deployer import DeployError, Deployer  # noqa: E402
from localdeploy.describe import Names, describe  # noqa: E402
from localdeploy.functions import Functions  # noqa: E402
from localdeploy.sources import EventSources  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPTIONS = {"visibility_timeout": 2, "retry_delay": 1, "duplicate": acceptance.duplicate}


def short(value):
    """`{OrdersQueue.Arn}` → `OrdersQueue`."""
    return value.strip("{}").split(".")[0] if isinstance(value, str) else value


def print_deployment(stack, deployed):
    api = sorted({stack.types[lid] for lid in stack.via_api})
    print(f"==> stack {stack.name}: {len(stack.types)} resources, {len(stack.via_api)} of them "
          f"through the service APIs ({', '.join(api)})")
    print("==> functions (read back from the Lambda API)")
    for name, fn in deployed["functions"].items():
        code = fn.get("ImageUri") or ", ".join(short(layer) for layer in fn["Layers"])
        print(f"  {name:<26} {fn.get('Handler') or fn.get('ImageConfig', {}).get('Command')!s:<8} "
              f"{fn['MemorySize']} MB {fn['Timeout']} s  {code}")
        print(f"  {'':<26} environment: {', '.join(sorted(fn['Environment']))}")
    print("==> event source mappings")
    queues = deployed["queues"]
    for name, mapping in deployed["event_source_mappings"].items():
        source = short(mapping["EventSourceArn"])
        details = [f"batch {mapping['BatchSize']}"]
        if mapping.get("MaximumBatchingWindowInSeconds"):
            details.append(f"window {mapping['MaximumBatchingWindowInSeconds']} s")
        details += mapping.get("FunctionResponseTypes", [])
        redrive = queues.get(source, {}).get("RedrivePolicy")
        if redrive:
            details.append(f"to {short(redrive['deadLetterTargetArn'])} after "
                           f"{redrive['maxReceiveCount']} receives")
        if "MaximumRetryAttempts" in mapping:
            details.append(f"{mapping['MaximumRetryAttempts']} retries, bisect "
                           f"{mapping.get('BisectBatchOnFunctionError', False)}, on failure "
                           f"{short(mapping['DestinationConfig']['OnFailure']['Destination'])}")
        print(f"  {source} -> {short(mapping['FunctionArn'])}: {', '.join(details)}")
    for name, topic in deployed["topics"].items():
        for sub in topic["Subscriptions"]:
            print(f"  {name} -> {short(sub['Endpoint'])}: filter {json.dumps(sub.get('FilterPolicy'))}")
    for name, bucket in deployed["buckets"].items():
        for note in bucket["LambdaNotifications"]:
            print(f"  {name} -> {short(note['Function'])}: {', '.join(note['Events'])} {note['Filter']}")
    print("==> HTTP APIs and function URLs")
    for name, api in deployed["http_apis"].items():
        for key, route in api["Routes"].items():
            target = route.get("Integration", {})
            print(f"  {name} {key} -> {target.get('IntegrationType')} {target.get('PayloadFormatVersion')} "
                  f"{short(target.get('IntegrationUri', '').split('/functions/')[-1].split('/invocations')[0])}, "
                  f"authorization {route.get('AuthorizationType')}")
        print(f"  {name} stages: {', '.join(api['Stages'])}")
    for name, url in deployed["function_urls"].items():
        print(f"  {name} -> {short(url['FunctionArn'])}: auth {url['AuthType']}")


def print_deliveries(stack, invocations):
    """What each event source delivered: per source and function, the invocations and their
    records (the batch sizes, in order)."""
    names = Names(stack)
    found = acceptance.deliveries(invocations)
    for (kind, source, function), sizes in found.items():
        batches = ", ".join(map(str, sizes[:12])) + (", ..." if len(sizes) > 12 else "")
        print(f"  {kind:<8} {short(names(source))} -> "
              f"{function}: {len(sizes)} invocations, {sum(sizes)} records (per invocation: {batches})")
    return found


def print_outcome(outcome):
    for title, run in (("orders", outcome.orders), ("FIFO orders", outcome.fifo)):
        if run is None:
            continue
        dead = [acceptance.order_id(body) for mid in run.dead for m, body in run.sent if m == mid]
        print(f"  {title}: {len(run.sent)} messages; stored {', '.join(sorted(run.stored))}; "
              f"dead-lettered after {run.max_receive} deliveries: {', '.join(dead)}")
    t = outcome.telemetry
    print(f"  telemetry: {len(t['stored'])} readings stored; the bad one "
          f"({t['bad_sequence']}) delivered {t['bad_deliveries']} times, then reported; a batch "
          f"of two bad readings bisected into {len(t['bisect']['reports'])} reports")
    p = outcome.payments
    print(f"  payments: {len(p['accepted'])} accepted, each delivered "
          f"{sorted({len(r) for r in p['responses'].values()})} times and stored once; the one "
          f"outside the filter delivered {len(p['responses'].get(p['filtered'], []))} times; the "
          f"refused one tried {len(p['responses'].get(p['failing'], []))} times, then recorded in "
          f"the on-failure queue")
    o = outcome.objects
    print(f"  objects: {sum(len(v) for v in o['routed'].values())} routed "
          f"({'; '.join(f'{b}: {k}' for b, k in o['routed'].items())}); "
          f"{acceptance.OUTSIDE_PREFIX} delivered {o['delivered_keys'].count(acceptance.OUTSIDE_PREFIX)} times")


def print_api(api):
    for (method, path, route), (step, answer) in zip(api.front_requests, api.answers.items()):
        print(f"  {method} {path}: {answer.status} ({step}; route {route or 'none: API Gateway answered'})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=str(ROOT / "target/sam-build/template.yaml"))
    parser.add_argument("--stack", default="tern-local")
    parser.add_argument("--parameter", action="append", metavar="NAME=VALUE")
    parser.add_argument("--image", action="append", metavar="URI=LOCAL", default=[])
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--no-drive", action="store_true")
    args = parser.parse_args(argv)
    images = dict(pair.split("=", 1) for pair in args.image)
    try:
        parameters = samtemplate.parse_parameters(args.parameter)
    except samtemplate.TemplateError as err:
        parser.error(str(err))
    with MotoServer.start(args.venv) as moto, tempfile.TemporaryDirectory(prefix="tern-local-") as work:
        clients = Clients(moto.endpoint)
        print(f"==> moto on {moto.endpoint}; deploying {args.template} as {args.stack}")
        try:
            stack = Deployer(clients, args.stack, parameters).deploy(args.template)
        except (DeployError, samtemplate.TemplateError) as err:
            print(f"deploy failed: {err}", file=sys.stderr)
            return 1
        print_deployment(stack, describe(clients, stack))
        if args.no_drive:
            return 0
        rie = glob.glob(f"{args.venv}/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64")
        functions = Functions(clients, stack, rie[0], work, images=images)
        dropper = acceptance.DropFirstAcknowledgement("o-1002")
        print("==> the sample events of events/ on the queues, the stream, the topic and the bucket "
              "(o-1001 sent twice, the acknowledgement of o-1002 lost once, SNS delivering twice)")
        try:
            sources = EventSources.start(clients, stack, functions,
                                         {**OPTIONS, "drop_acknowledgement": dropper})
            try:
                outcome = acceptance.drive(clients, stack, functions, dropper)
            finally:
                sources.stop()
            print("==> HTTP requests through the deployed HTTP API (API Gateway's routing, event "
                  "and permission check emulated by tools/localdeploy/httpapi.py)")
            api = orders_api.drive_api(clients, stack, functions)
        finally:
            functions.close()
        print("==> what each event source delivered (source -> function: invocations, records)")
        print_deliveries(stack, functions.invocations)
        print("==> what became of the events")
        print_outcome(outcome)
        print_api(api)
        checks = [acceptance.orders_problems, acceptance.telemetry_problems,
                  acceptance.payments_problems, acceptance.objects_problems]
        if outcome.fifo is not None:
            checks.append(acceptance.fifo_problems)
        problems = [problem for check in checks for problem in check(outcome)]
        problems += acceptance.batch_size_problems(
            functions.invocations, acceptance.event_source_mappings(clients, stack)
        )
        problems += orders_api.api_problems(api)
        for problem in problems:
            print(f"  PROBLEM {problem}")
        print("==> every check holds" if not problems else f"==> {len(problems)} problems")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
