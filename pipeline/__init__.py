"""The CI deployment pipeline's logic: which tenant stacks a change touches, and running preview/up for many
stacks in parallel through the Pulumi Automation API. The GitHub workflows only call `invoke ci.*`."""
