"""The filters SNS subscriptions and S3 notifications apply before invoking a function.

SNS filter policies (`FilterPolicyScope` MessageAttributes or MessageBody): every key of the
policy must match (AND), any value listed for a key may (OR), `$or` joins alternative
policies. Values: exact strings and numbers, `prefix`, `suffix`, `equals-ignore-case`,
`anything-but` (a value, a list, or `{"prefix": ...}`), `numeric` ranges and `exists`.
A `String.Array` attribute matches when one of its elements does; a missing attribute matches
only `{"exists": false}`. An operator not listed here is an error, not a silent mismatch.

S3 notification filters: the object key (decoded) must start with the `prefix` rule's value
and end with the `suffix` rule's; the event name must match the configured event, whose `*`
matches any last part (`s3:ObjectCreated:*` covers `ObjectCreated:Put`).
"""

import json
import numbers


class FilterPolicyError(Exception):
    """A filter policy the local delivery cannot evaluate; the message names the operator."""


NUMERIC = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(conditions, value):
    if not isinstance(value, numbers.Number) or isinstance(value, bool):
        return False
    pairs = zip(conditions[::2], conditions[1::2])
    for operator, bound in pairs:
        if operator not in NUMERIC:
            raise FilterPolicyError(f"numeric operator {operator!r} is not supported")
        if not NUMERIC[operator](value, bound):
            return False
    return True


def _anything_but(rule, value):
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and not value.startswith(rule["prefix"])
        if "suffix" in rule:
            return isinstance(value, str) and not value.endswith(rule["suffix"])
        raise FilterPolicyError(f"anything-but {sorted(rule)} is not supported")
    excluded = rule if isinstance(rule, list) else [rule]
    return value not in excluded


def _matches_value(rule, value):
    """Whether one present value matches one rule of a policy's value list."""
    if isinstance(rule, dict):
        if len(rule) != 1:
            raise FilterPolicyError(f"a rule holds one operator, not {sorted(rule)}")
        (operator, argument), = rule.items()
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(argument)
        if operator == "suffix":
            return isinstance(value, str) and value.endswith(argument)
        if operator == "equals-ignore-case":
            return isinstance(value, str) and value.lower() == str(argument).lower()
        if operator == "anything-but":
            return _anything_but(argument, value)
        if operator == "numeric":
            return _numeric(argument, value)
        if operator == "exists":
            return bool(argument)
        raise FilterPolicyError(f"filter policy operator {operator!r} is not supported")
    if isinstance(rule, bool) or rule is None:
        return value is rule
    if isinstance(rule, numbers.Number):
        return isinstance(value, numbers.Number) and not isinstance(value, bool) and value == rule
    return value == rule


def _matches_key(rules, values, present):
    """`values`: the candidates (one, or an array's elements); `present`: the key exists."""
    rules = rules if isinstance(rules, list) else [rules]
    for rule in rules:
        if isinstance(rule, dict) and list(rule) == ["exists"]:
            if bool(rule["exists"]) == present:
                return True
            continue
        if present and any(_matches_value(rule, value) for value in values):
            return True
    return False


def _attribute_values(attribute):
    """An SNS message attribute ({"Type", "Value"}) as the values a policy compares."""
    kind, value = attribute.get("Type", "String"), attribute.get("Value")
    if kind == "Number":
        number = float(value)
        return [int(number) if number.is_integer() else number]
    if kind == "String.Array":
        try:
            items = json.loads(value)
        except ValueError:
            return [value]
        return items if isinstance(items, list) else [items]
    if kind == "Binary":
        return []
    return [value]


def matches_attributes(policy, attributes):
    """A MessageAttributes-scoped policy against a message's attributes."""
    if "$or" in policy:
        rest = {k: v for k, v in policy.items() if k != "$or"}
        return any(matches_attributes({**rest, **alt}, attributes) for alt in policy["$or"])
    for key, rules in policy.items():
        present = key in attributes
        values = _attribute_values(attributes[key]) if present else []
        if not _matches_key(rules, values, present):
            return False
    return True


def matches_body(policy, body):
    """A MessageBody-scoped policy against a message body (JSON; not JSON never matches)."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    if not isinstance(body, dict):
        return False
    if "$or" in policy:
        rest = {k: v for k, v in policy.items() if k != "$or"}
        return any(matches_body({**rest, **alt}, body) for alt in policy["$or"])
    for key, rules in policy.items():
        present = key in body
        value = body.get(key)
        if isinstance(rules, dict) and not (len(rules) == 1 and list(rules)[0] in OPERATORS):
            if not (present and isinstance(value, dict) and matches_body(rules, value)):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not _matches_key(rules, values, present):
            return False
    return True


OPERATORS = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}


def matches_policy(policy, scope, attributes, body):
    """A subscription's filter: no policy delivers everything."""
    if not policy:
        return True
    if scope == "MessageBody":
        return matches_body(policy, body)
    return matches_attributes(policy, attributes)


def s3_event_matches(configured, event_name):
    """`s3:ObjectCreated:*` against a record's `ObjectCreated:Put`."""
    pattern = configured[3:] if configured.startswith("s3:") else configured
    if pattern.endswith(":*"):
        return event_name.startswith(pattern[:-1])
    return event_name == pattern


def s3_key_matches(rules, key):
    """A notification's prefix/suffix rules ({"prefix": ..., "suffix": ...}) against a key."""
    return key.startswith(rules.get("prefix", "")) and key.endswith(rules.get("suffix", ""))
