"""Deploys a SAM application into moto: package, transform, create the stack, complete it.

1. Package (as `sam package`): every local artifact of the template (a `sam build` output, so
   the layer directory holds the built `bootstrap`) is zipped, keeping file modes, and uploaded
   to an artifacts bucket in moto's S3; the template then names the S3 objects.
2. Transform with the SAM translator (tools/samtemplate.py), with the deployment's parameters.
3. Deploy in rounds. A round first creates or updates the CloudFormation stack with every
   resource moto's CloudFormation can create whose references are all available, then creates
   through the service APIs (apiresources) every resource moto cannot create whose references
   are all available. References from stack resources to API-created ones are replaced by
   their values (intrinsics.substitute); the values the API-created resources need from the
   stack come back as stack outputs, so moto's own intrinsics produce them. Properties moto's
   CloudFormation drops are applied after each round (completions). A round that makes no
   progress is an error naming the resources left.
4. A last update leaves the template's own Outputs on the stack.

The result (`DeployedStack`) says what each resource is and how it was made, for the readback
(describe) and the runner (functions).
"""

import hashlib
import io
import json
import pathlib
import re
import sys
import zipfile
from dataclasses import dataclass, field

from . import apiresources, completions
from .aws import ACCOUNT
from .intrinsics import Resolver, dependencies, substitute

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import samtemplate  # noqa: E402

ARTIFACTS_BUCKET = "tern-local-artifacts"
# Types moto's CloudFormation (5.2.5) creates as the deployment needs them, with the
# completions of completions.py. Any other type needs a creator in apiresources.py: moto skips
# types it does not know with a warning, which would leave a stack that only looks complete.
CLOUDFORMATION_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::IAM::Role",
    "AWS::Kinesis::Stream",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SSM::Parameter",
}


class DeployError(Exception):
    """The deployment failed; the message says where and why."""


@dataclass
class DeployedStack:
    """What the deployment made: per logical id, its type, `Ref` value and how it was created."""

    name: str
    region: str
    template: dict
    parameters: dict
    types: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    via_api: list = field(default_factory=list)
    completed: dict = field(default_factory=dict)
    local: dict = field(default_factory=dict)

    def of_type(self, resource_type):
        """Logical ids of the deployed resources of a type, in template order."""
        return [lid for lid, kind in self.types.items() if kind == resource_type]


@dataclass
class Context:
    """What creators and completers need."""

    clients: object
    stack_name: str


def zip_directory(path):
    """A deterministic zip of a directory: sorted entries, fixed times, file modes kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(file.relative_to(path)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (file.stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


class Deployer:
    """Deploys one template into the moto behind `clients` as stack `stack_name`."""

    def __init__(self, clients, stack_name, parameters=None, log=print):
        self.clients = clients
        self.ctx = Context(clients, stack_name)
        self.stack_name = stack_name
        self.parameters = dict(parameters or {})
        self.log = log

    # -- packaging -------------------------------------------------------------------------

    def store(self, logical_id, path):
        """Uploads a file or a zipped directory; returns (bucket, key)."""
        body = zip_directory(path) if path.is_dir() else path.read_bytes()
        key = f"{logical_id}/{hashlib.sha256(body).hexdigest()}.zip"
        self.clients.client("s3").put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=body)
        return ARTIFACTS_BUCKET, key

    def package(self, template_path):
        """The template with its local artifacts uploaded, transformed by the SAM translator."""
        template_path = pathlib.Path(template_path)
        self.clients.client("s3").create_bucket(Bucket=ARTIFACTS_BUCKET)
        template = samtemplate.load(template_path)
        samtemplate.package(template, template_path.parent, self.store)
        return samtemplate.transform(template, self.parameters, self.clients.region)

    # -- deployment ------------------------------------------------------------------------

    def deploy(self, template_path):
        template = self.package(template_path)
        return self.deploy_transformed(template)

    def deploy_transformed(self, template):
        stack = DeployedStack(self.stack_name, self.clients.region, template, self.parameters)
        declared = template.get("Parameters") or {}
        unknown = sorted(set(self.parameters) - set(declared))
        if unknown:
            raise DeployError(f"parameters {unknown} are not declared by the template")
        values = {name: spec.get("Default") for name, spec in declared.items()}
        values.update(self.parameters)
        refs = dict(values)
        refs.update(
            {
                "AWS::Region": self.clients.region,
                "AWS::AccountId": ACCOUNT,
                "AWS::StackName": self.stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )
        resolver = Resolver(refs, stack.attributes, template.get("Conditions"))
        resources = {
            lid: json.loads(json.dumps(res))
            for lid, res in template["Resources"].items()
            if "Condition" not in res or resolver.condition(res["Condition"])
        }
        unknown = {
            lid: res["Type"]
            for lid, res in resources.items()
            if res["Type"] not in CLOUDFORMATION_TYPES and res["Type"] not in apiresources.CREATORS
        }
        if unknown:
            raise DeployError(
                f"no local deployment for {unknown}: moto's CloudFormation does not create these "
                "types as needed; add a creator to tools/localdeploy/apiresources.py"
            )
        for lid, res in resources.items():
            stack.types[lid] = res["Type"]
            completions.prepare(self.ctx, lid, res)
        deps = {
            lid: (
                dependencies(res.get("Properties", {}), declared)
                | set(res.get("DependsOn") and _as_list(res["DependsOn"]) or [])
            )
            & set(resources)
            for lid, res in resources.items()
        }
        missing = {lid: sorted(d - set(resources)) for lid, d in deps.items() if d - set(resources)}
        if missing:
            raise DeployError(f"references to resources that are not deployed: {missing}")
        via_api = {lid for lid, res in resources.items() if res["Type"] in apiresources.CREATORS}
        in_stack, done = [], set()
        pending = set(resources)
        while pending:
            ready = self._ready_for_stack(pending - via_api, deps, done)
            if ready:
                in_stack += [lid for lid in resources if lid in ready]
                self._update_stack(stack, resources, in_stack, values, refs, via_api)
                for lid in ready:
                    self._complete(stack, resolver, lid, resources[lid])
                done |= ready
                pending -= ready
            created = self._create_through_api(stack, resolver, resources, pending & via_api, deps, done)
            done |= created
            pending -= created
            if not ready and not created:
                stuck = {lid: sorted(deps[lid] - done) for lid in sorted(pending)}
                raise DeployError(f"no resource can be created; waiting on: {stuck}")
        self._final_outputs(stack, resources, in_stack, values, refs, via_api)
        return stack

    @staticmethod
    def _ready_for_stack(candidates, deps, done):
        ready = set()
        changed = True
        while changed:
            changed = False
            for lid in candidates - ready:
                if deps[lid] <= done | ready:
                    ready.add(lid)
                    changed = True
        return ready

    def _stack_template(self, stack, resources, in_stack, via_api, outputs):
        api_refs = {lid: stack.refs[lid] for lid in via_api if lid in stack.refs}
        api_attrs = {key: v for key, v in stack.attributes.items() if key[0] in api_refs}
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                lid: substitute(resources[lid], api_refs, api_attrs) for lid in in_stack
            },
            "Outputs": substitute(outputs, api_refs, api_attrs),
        }
        for section in ("Parameters", "Conditions", "Mappings"):
            if section in stack.template:
                template[section] = stack.template[section]
        return template

    def _update_stack(self, stack, resources, in_stack, values, refs, via_api):
        """Creates or updates the stack with `in_stack`, reading back each resource's Ref and
        the attributes the template uses through outputs."""
        wanted = _get_atts(stack.template)
        outputs, keys = {}, {}
        for lid in in_stack:
            key = f"TernRef{_alnum(lid)}"
            outputs[key], keys[key] = {"Value": {"Ref": lid}}, (lid, None)
            for attribute in sorted(wanted.get(lid, ())):
                key = f"TernAtt{_alnum(lid)}{_alnum(attribute)}"
                outputs[key] = {"Value": {"Fn::GetAtt": [lid, attribute]}}
                keys[key] = (lid, attribute)
        template = self._stack_template(stack, resources, in_stack, via_api, outputs)
        result = self._apply(template, values)
        for output in result.get("Outputs", []):
            lid, attribute = keys[output["OutputKey"]]
            if attribute is None:
                stack.refs[lid] = refs[lid] = output["OutputValue"]
            else:
                stack.attributes[(lid, attribute)] = output["OutputValue"]

    def _apply(self, template, values):
        cfn = self.clients.client("cloudformation")
        request = {
            "StackName": self.stack_name,
            "TemplateBody": json.dumps(template),
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": str(v)}
                for k, v in self.parameters.items()
                if k in (template.get("Parameters") or {})
            ],
        }
        try:
            existing = cfn.describe_stacks(StackName=self.stack_name)["Stacks"]
        except cfn.exceptions.ClientError:
            existing = []
        try:
            if existing:
                cfn.update_stack(**request)
            else:
                cfn.create_stack(**request)
        except cfn.exceptions.ClientError as err:
            raise DeployError(f"CloudFormation refused the stack {self.stack_name}: {err}") from err
        result = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if not result["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in result["StackStatus"]:
            raise DeployError(
                f"stack {self.stack_name} ended {result['StackStatus']}: "
                f"{result.get('StackStatusReason', 'no reason given')}"
            )
        return result

    def _complete(self, stack, resolver, lid, resource):
        props = resolver.resolve(resource.get("Properties") or {})
        applied = completions.complete(self.ctx, resource["Type"], stack.refs[lid], props)
        if applied:
            stack.completed[lid] = applied
            self.log(f"  {lid} ({resource['Type']}): {', '.join(applied)} applied through the API")

    def _create_through_api(self, stack, resolver, resources, candidates, deps, done):
        created = set()
        progress = True
        while progress:
            progress = False
            for lid in [lid for lid in resources if lid in candidates - created]:
                if not deps[lid] <= done | created:
                    continue
                resource = resources[lid]
                props = resolver.resolve(resource.get("Properties") or {})
                try:
                    result = apiresources.CREATORS[resource["Type"]](self.ctx, lid, props)
                except Exception as err:
                    raise DeployError(f"creating {lid} ({resource['Type']}): {err}") from err
                stack.refs[lid] = resolver.refs[lid] = result.ref
                for attribute, value in result.attributes.items():
                    stack.attributes[(lid, attribute)] = value
                stack.local[lid] = result.local
                stack.via_api.append(lid)
                self.log(f"  {lid} ({resource['Type']}): created through the API")
                created.add(lid)
                progress = True
        return created

    def _final_outputs(self, stack, resources, in_stack, values, refs, via_api):
        outputs = {
            name: output
            for name, output in (stack.template.get("Outputs") or {}).items()
            if "Condition" not in output
            or Resolver(refs, stack.attributes, stack.template.get("Conditions")).condition(
                output["Condition"]
            )
        }
        self._apply(self._stack_template(stack, resources, in_stack, via_api, outputs), values)


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _alnum(text):
    return re.sub(r"[^A-Za-z0-9]", "", text)


def _get_atts(template):
    """{logical id: {attribute}} for every Fn::GetAtt (and ${Id.Attr}) in the template."""
    found = {}

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if len(node) == 1 and "Fn::GetAtt" in node:
                arg = node["Fn::GetAtt"]
                lid, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                if isinstance(attribute, str):
                    found.setdefault(lid, set()).add(attribute)
            elif len(node) == 1 and "Fn::Sub" in node:
                arg = node["Fn::Sub"]
                text = arg[0] if isinstance(arg, list) else arg
                for name in re.findall(r"\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}", str(text)):
                    found.setdefault(name[0], set()).add(name[1])
            for item in node.values():
                walk(item)

    walk(template.get("Resources", {}))
    walk(template.get("Outputs", {}))
    return found
