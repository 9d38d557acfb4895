"""CloudFormation intrinsic functions, for the resources the deployer creates itself.

moto's CloudFormation resolves intrinsics inside the stack. Resources created through the
service APIs (apiresources) need their properties resolved here, against what the stack and the
earlier API calls produced; and the stack's template needs references to those resources
replaced by their values before moto sees it (`substitute`).
"""

import base64
import json
import re

PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(Exception):
    """An intrinsic that cannot be resolved; the message names it."""


def _sub_parts(arg):
    text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
    return text, variables or {}


def dependencies(value, known_names=()):
    """Logical ids `value` refers to (Ref, GetAtt, Sub), parameters and pseudo parameters
    excluded; `known_names` are the template's parameter names."""
    found = set()

    def walk(node, local=()):
        if isinstance(node, list):
            for item in node:
                walk(item, local)
        elif isinstance(node, dict):
            if len(node) == 1 and "Ref" in node and isinstance(node["Ref"], str):
                name = node["Ref"]
                if name not in PSEUDO_PARAMETERS and name not in known_names and name not in local:
                    found.add(name)
                return
            if len(node) == 1 and "Fn::GetAtt" in node:
                arg = node["Fn::GetAtt"]
                found.add(arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
                return
            if len(node) == 1 and "Fn::Sub" in node:
                text, variables = _sub_parts(node["Fn::Sub"])
                walk(variables, local)
                for name in SUB_VARIABLE.findall(str(text)):
                    base = name.split(".", 1)[0]
                    if (
                        name not in variables
                        and base not in PSEUDO_PARAMETERS
                        and name not in PSEUDO_PARAMETERS
                        and base not in known_names
                    ):
                        found.add(base)
                return
            for item in node.values():
                walk(item, local)

    walk(value)
    return found


class Resolver:
    """Evaluates intrinsics against known values.

    `refs`: logical id or parameter → the value of `Ref`; `attributes`: (logical id, attribute)
    → the value of `Fn::GetAtt`; `conditions`: condition name → bool (or the template's
    Conditions section, evaluated on first use).
    """

    NO_VALUE = object()

    def __init__(self, refs, attributes, conditions=None):
        self.refs = refs
        self.attributes = attributes
        self.conditions = conditions or {}
        self._evaluated = {}

    def condition(self, name):
        if name not in self._evaluated:
            if name not in self.conditions:
                raise IntrinsicError(f"condition {name} is not defined")
            value = self.conditions[name]
            self._evaluated[name] = value if isinstance(value, bool) else bool(self.resolve(value))
        return self._evaluated[name]

    def resolve(self, value):
        """`value` with every intrinsic evaluated; AWS::NoValue removes the key or item."""
        result = self._resolve(value)
        return None if result is self.NO_VALUE else result

    def _resolve(self, node):
        if isinstance(node, list):
            items = [self._resolve(item) for item in node]
            return [item for item in items if item is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (name, arg), = node.items()
            handler = self.FUNCTIONS.get(name)
            if handler is not None:
                return handler(self, arg)
            if name.startswith("Fn::"):
                raise IntrinsicError(f"{name} is not supported by the local deployer")
        resolved = {key: self._resolve(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not self.NO_VALUE}

    def _ref(self, name):
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name not in self.refs:
            raise IntrinsicError(f"Ref {name}: not known (yet)")
        return self.refs[name]

    def _get_att(self, arg):
        logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        key = (logical_id, self._resolve(attribute))
        if key not in self.attributes:
            raise IntrinsicError(f"Fn::GetAtt {logical_id}.{key[1]}: not known (yet)")
        return self.attributes[key]

    def _sub(self, arg):
        text, variables = _sub_parts(arg)
        values = {name: self._resolve(value) for name, value in variables.items()}

        def replace(match):
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name and name.split(".", 1)[0] not in PSEUDO_PARAMETERS:
                return str(self._get_att(name))
            return str(self._ref(name))

        return SUB_VARIABLE.sub(replace, text).replace("${!", "${")

    def _join(self, arg):
        separator, items = arg
        return separator.join(str(item) for item in self._resolve(items))

    def _if(self, arg):
        name, when_true, when_false = arg
        return self._resolve(when_true if self.condition(name) else when_false)

    def _select(self, arg):
        index, items = self._resolve(arg[0]), self._resolve(arg[1])
        return items[int(index)]

    def _split(self, arg):
        separator, text = arg
        return self._resolve(text).split(separator)

    def _equals(self, arg):
        left, right = (self._resolve(item) for item in arg)
        return str(left) == str(right)

    FUNCTIONS = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::If": _if,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::Base64": lambda self, arg: base64.b64encode(
            str(self._resolve(arg)).encode()
        ).decode(),
        "Fn::ToJsonString": lambda self, arg: json.dumps(self._resolve(arg)),
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, arg: not self._resolve(arg[0]),
        "Fn::And": lambda self, arg: all(self._resolve(item) for item in arg),
        "Fn::Or": lambda self, arg: any(self._resolve(item) for item in arg),
        "Condition": lambda self, arg: self.condition(arg),
    }


def substitute(value, refs, attributes):
    """`value` with Ref/GetAtt/Sub references to the resources in `refs`/`attributes` replaced
    by their values, every other intrinsic left for CloudFormation."""
    names = {key[0] for key in attributes} | set(refs)

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (name, arg), = node.items()
            if name == "Ref" and arg in refs:
                return refs[arg]
            if name == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                if (logical_id, attribute) in attributes:
                    return attributes[(logical_id, attribute)]
                if logical_id in names:
                    raise IntrinsicError(f"Fn::GetAtt {logical_id}.{attribute}: not known")
            if name == "Fn::Sub":
                text, variables = _sub_parts(arg)

                def replace(match):
                    variable = match.group(1)
                    base, _, attribute = variable.partition(".")
                    if variable in variables or base not in names:
                        return match.group(0)
                    if attribute:
                        return str(attributes[(base, attribute)])
                    return str(refs[base])

                text = SUB_VARIABLE.sub(replace, str(text))
                variables = {k: walk(v) for k, v in variables.items()}
                return {"Fn::Sub": [text, variables] if variables else text}
        return {key: walk(item) for key, item in node.items()}

    return walk(value)
