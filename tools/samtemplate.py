"""The SAM template as CloudFormation sees it: packaged and transformed by the SAM translator.

CloudFormation never deploys `template.yaml` itself: `sam package`/`sam deploy` first replace
local artifact paths (CodeUri, ContentUri, ...) with S3 locations, then CloudFormation runs the
`AWS::Serverless-2016-10-31` transform (the `samtranslator` package that ships with aws-sam-cli).
The checks (tools/check_template.py, cfn-lint, checkov) and the local deployment read that
transformed template, so they see the roles, event source mappings and permissions SAM adds.

    python tools/samtemplate.py template.yaml --out target/template/transformed.json \\
        [--parameter Name=Value ...] [--region us-east-1]

writes the transformed template as JSON. Without an artifact store, local paths become
placeholder S3 locations (`s3://tern-local-artifacts/<LogicalId>`): enough to transform and
lint, nothing is uploaded.
"""

import argparse
import json
import pathlib
import sys

import boto3
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)
from samtranslator.yaml_helper import yaml_parse

DEFAULT_REGION = "us-east-1"
PLACEHOLDER_BUCKET = "tern-local-artifacts"

# Properties that name a local artifact, by resource type, as `sam package` rewrites them.
# "uri": an S3 URI string replaces the path; "location": {S3Bucket, S3Key} replaces it.
ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": [("CodeUri", "uri")],
    "AWS::Serverless::LayerVersion": [("ContentUri", "uri")],
    "AWS::Serverless::Api": [("DefinitionUri", "uri")],
    "AWS::Serverless::HttpApi": [("DefinitionUri", "uri")],
    "AWS::Serverless::StateMachine": [("DefinitionUri", "uri")],
    "AWS::Lambda::Function": [("Code", "location")],
    "AWS::Lambda::LayerVersion": [("Content", "location")],
}


class TemplateError(Exception):
    """The template cannot be loaded, packaged or transformed; the message says why."""


def load(path):
    """The template at `path` (YAML or JSON, short-form intrinsics allowed) as a dict."""
    path = pathlib.Path(path)
    try:
        template = yaml_parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TemplateError(f"cannot read the template {path}: {err}") from err
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources map)")
    return template


def is_local_path(value):
    """Whether an artifact property holds a local path (what `sam package` uploads)."""
    return isinstance(value, str) and not value.startswith(("s3://", "https://", "http://"))


def package(template, base_dir, store=None):
    """Replaces every local artifact path with an S3 location, in place; returns the template.

    `store(logical_id, path)` uploads the file or directory at `path` and returns
    `(bucket, key)`; without it, paths become placeholder locations and nothing is read.
    """
    base_dir = pathlib.Path(base_dir)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        for prop, form in ARTIFACT_PROPERTIES.get(resource.get("Type"), []):
            value = props.get(prop)
            if not is_local_path(value):
                continue
            path = (base_dir / value).resolve()
            if store is None:
                bucket, key = PLACEHOLDER_BUCKET, logical_id
            else:
                if not path.exists():
                    raise TemplateError(f"{logical_id}.{prop}: {path} does not exist")
                bucket, key = store(logical_id, path)
            props[prop] = (
                f"s3://{bucket}/{key}" if form == "uri" else {"S3Bucket": bucket, "S3Key": key}
            )
    return template


class BundledManagedPolicies:
    """The AWS managed policy names the translator knows offline (no IAM call)."""

    def __init__(self, partition="aws"):
        self.map = get_bundled_managed_policy_map(partition) or {}

    def __call__(self):
        return self.map


def transform(template, parameters=None, region=DEFAULT_REGION):
    """The CloudFormation template the SAM transform makes of a packaged SAM template."""
    if "Transform" not in template:
        return template
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=region)
    )
    values = dict(parameters or {})
    to_py27_compatible_template(template, values)
    try:
        result = translator.translate(
            template,
            parameter_values=values,
            get_managed_policy_map=BundledManagedPolicies(),
        )
    except Exception as err:  # the translator raises its own exception family
        raise TemplateError(f"the SAM transform failed: {err}") from err
    finally:
        translator.metrics.publish()  # a no-op publisher; unpublished metrics warn at exit
    return undo_mark_unicode_str_in_template(result)


def transformed(path, parameters=None, region=DEFAULT_REGION):
    """Loads, packages with placeholder locations, and transforms the template at `path`."""
    path = pathlib.Path(path)
    return transform(package(load(path), path.parent), parameters, region)


def parse_parameters(pairs):
    """`["Name=Value", ...]` as a dict; a pair without `=` is an error."""
    parameters = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise TemplateError(f"parameter {pair!r} is not Name=Value")
        parameters[name] = value
    return parameters


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--out", required=True)
    parser.add_argument("--parameter", action="append", metavar="NAME=VALUE")
    parser.add_argument("--region", default=DEFAULT_REGION)
    args = parser.parse_args(argv)
    try:
        result = transformed(args.template, parse_parameters(args.parameter), args.region)
    except TemplateError as err:
        print(f"samtemplate: {err}", file=sys.stderr)
        return 1
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{out}: {len(result['Resources'])} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
