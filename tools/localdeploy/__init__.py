"""A local deployment of the SAM application: moto's CloudFormation, completed through the
service APIs where moto falls short, driven by local event source pollers as Lambda would.

- `deployer`: packages the `sam build` output into moto's S3, transforms it with the SAM
  translator and deploys it into moto's CloudFormation in rounds; resource types moto's
  CloudFormation cannot create (or creates without some properties) are created or completed
  through the service APIs (`apiresources`, `completions`), so the rest sees a complete stack.
- `describe`: reads the deployed configuration back from the service APIs.
- `functions`: runs a deployed function (its layer's `bootstrap`, or its container image) under
  the AWS Lambda Runtime Interface Emulator.
- `sqs`, `kinesis`, `sns`, `s3`: the event sources, driven as Lambda drives them, from what the
  deployment says (mappings, subscriptions, bucket notifications); `sources` starts them all.

Entry point: tools/deploy_local.py (`make deploy-local`); end-to-end test:
tools/test_deploy_local.py (`make deploy-test`, part of `make test`).
"""
