"""Hand-built plans for the renderer, saved-plan and plan-command tests."""

from __future__ import annotations

from controller.plan import Action, Change, Code, NoOp, Plan, Severity, Step, Violation

DIGEST = "sha256:" + "a" * 64
FINGERPRINT = "sha256:" + "b" * 64


def swap_plan() -> Plan:
    """eni-a and eni-b swap between two full servers (via a spare slot), one new ENI."""
    return Plan(
        manifests_digest=DIGEST,
        observed_fingerprint=FINGERPRINT,
        steps=(
            Step(
                1,
                Action.CREATE,
                "eni-new",
                subnet="subnet-web",
                private_ip="10.0.1.20",
                security_groups=("sg-web",),
                reason="eni-new is declared and does not exist",
            ),
            Step(2, Action.DETACH, "eni-a", server="web-1", reason="eni-a moves to web-2"),
            Step(3, Action.DETACH, "eni-b", server="web-2", reason="eni-b moves to web-1"),
            Step(
                4,
                Action.ATTACH,
                "eni-a",
                server="web-2",
                depends_on=(3,),
                reason="eni-a moves to web-2",
            ),
            Step(
                5,
                Action.ATTACH,
                "eni-b",
                server="web-1",
                depends_on=(2,),
                reason="eni-b moves to web-1",
            ),
            Step(
                6,
                Action.ATTACH,
                "eni-new",
                server="web-3",
                depends_on=(1,),
                reason="eni-new is declared on web-3",
            ),
        ),
        changes=(
            Change("NetworkInterface/eni-a", "server", "web-1", "web-2", "manifest"),
            Change("NetworkInterface/eni-b", "server", "web-2", "web-1", "manifest"),
            Change(
                "NetworkInterface/eni-c", "securityGroups", ["sg-web"], ["sg-web", "sg-db"], "drift"
            ),
        ),
        unchanged=(NoOp("Server/web-1", "matches the cloud"),),
        orphans=("eni-old",),
    )


def rejected_plan() -> Plan:
    """A plan with one error and one warning."""
    return Plan(
        manifests_digest=DIGEST,
        observed_fingerprint=FINGERPRINT,
        steps=(Step(1, Action.ATTACH, "eni-a", server="web-2", reason="eni-a moves to web-2"),),
        violations=(
            Violation(
                Code.FLAVOR_LIMIT_EXCEEDED,
                Severity.ERROR,
                "Server/web-2",
                "manifests/app.yaml:12:3",
                "web-2 (s6.large.2, max 3 NICs) would carry 4",
                "move an ENI off web-2 or pick a larger flavor",
            ),
            Violation(
                Code.SERVER_NOT_READY,
                Severity.WARNING,
                "Server/web-3",
                "",
                "web-3 is BUILD",
                "apply waits for ACTIVE or SHUTOFF",
            ),
        ),
    )


def empty_plan() -> Plan:
    """The cloud matches the manifests."""
    return Plan(manifests_digest=DIGEST, observed_fingerprint=FINGERPRINT)
