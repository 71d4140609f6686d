"""``skms api-key``, ``skms policy``, ``skms audit``: who may do what, and what happened."""

import json
import sys
from pathlib import Path

import click

from skms.cli._common import State, output_option, pass_state, print_json


@click.group("api-key")
def api_key_group() -> None:
    """Create, list and revoke API keys."""


@api_key_group.command("create")
@click.argument("principal")
@click.option(
    "--role", "roles", multiple=True, required=True, help="admin, key-admin, crypto-user, wallet-operator, auditor"
)
@click.option("--description", default="")
@click.option("--ttl", type=float, help="Seconds until the key expires.")
@output_option
@pass_state
def api_key_create(state: State, principal: str, roles: tuple[str, ...], description: str, ttl: float | None) -> None:
    """A new API key for PRINCIPAL (the token is shown once)."""
    out = state.client().create_api_key(principal, roles, description=description, ttl=ttl)
    if state.json:
        print_json(out)
    else:
        click.echo(f"API key {out['api_key']['id']} for {principal} ({', '.join(roles)}); token, shown once:")
        click.echo(out["token"])


@api_key_group.command("list")
@output_option
@pass_state
def api_key_list(state: State) -> None:
    """The tenant's API keys (never their secrets)."""
    out = state.client().list_api_keys()
    if state.json:
        print_json(out)
        return
    for k in out["api_keys"]:
        status = "revoked" if k.get("revoked_at") else "active"
        click.echo(f"{k['id']}  {k['principal']:<24} {','.join(k['roles']):<28} {status}")


@api_key_group.command("revoke")
@click.argument("key_id")
@pass_state
def api_key_revoke(state: State, key_id: str) -> None:
    """Revokes KEY_ID (an API key or OAuth client) and the OAuth tokens issued to it.

    Refused at once by the server that answers, and by every other worker and node within 1 s
    (their authentication caches live 0.5 s; with redis_url they are told at once)."""
    state.client().revoke_api_key(key_id)
    click.echo(f"revoked {key_id}")


@click.group("policy")
def policy_group() -> None:
    """IAM-style policies, principal bindings, and the decision simulator."""


@policy_group.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_option
@pass_state
def policy_put(state: State, file: Path) -> None:
    """Creates or replaces the policy in FILE (JSON: name, statements, description)."""
    out = state.client().put_policy(json.loads(file.read_text()))
    print_json(out) if state.json else click.echo(f"policy {out['name']} saved")


@policy_group.command("list")
@output_option
@pass_state
def policy_list(state: State) -> None:
    """Built-in roles and custom policies."""
    out = state.client().list_policies()
    if state.json:
        print_json(out)
    else:
        for p in out:
            click.echo(f"{p['name']:<28} {len(p['statements'])} statement(s)  {p.get('description', '')}")


@policy_group.command("show")
@click.argument("name")
@pass_state
def policy_show(state: State, name: str) -> None:
    """A policy document."""
    print_json(state.client().get_policy(name))


@policy_group.command("delete")
@click.argument("name")
@pass_state
def policy_delete(state: State, name: str) -> None:
    state.client().delete_policy(name)
    click.echo(f"deleted {name}")


@policy_group.command("bind")
@click.argument("principal")
@click.option("--role", "roles", multiple=True)
@click.option("--policy", "policies", multiple=True)
@output_option
@pass_state
def policy_bind(state: State, principal: str, roles: tuple[str, ...], policies: tuple[str, ...]) -> None:
    """Gives PRINCIPAL these roles and policies (replacing its binding)."""
    out = state.client().bind_principal(principal, roles=roles, policies=policies)
    print_json(out) if state.json else click.echo(f"{principal}: roles {list(roles)}, policies {list(policies)}")


@policy_group.command("simulate")
@click.argument("principal")
@click.argument("action")
@click.argument("resource")
@click.option("--role", "roles", multiple=True)
@click.option("--source", help="Client address for source_cidrs conditions.")
@output_option
@pass_state
def policy_simulate(
    state: State, principal: str, action: str, resource: str, roles: tuple[str, ...], source: str | None
) -> None:
    """Would PRINCIPAL be allowed ACTION (key:Sign) on RESOURCE (key:payments)? And why."""
    out = state.client().simulate(principal, action, resource, roles=roles, source=source)
    if state.json:
        print_json(out)
    else:
        verdict = click.style("ALLOW", fg="green") if out["allowed"] else click.style("DENY", fg="red")
        click.echo(f"{verdict}: {out['reason']}")
    sys.exit(0 if out["allowed"] else 1)


@click.group("audit")
def audit_group() -> None:
    """Read, export and verify the tamper-evident audit log."""


@audit_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--principal")
@click.option("--action")
@click.option("--resource")
@click.option("--result")
@output_option
@pass_state
def audit_list(
    state: State, limit: int, principal: str | None, action: str | None, resource: str | None, result: str | None
) -> None:
    """Audit records of the tenant matching the filters, oldest first."""
    out = state.client().audit(limit=limit, principal=principal, action=action, resource=resource, result=result)
    if state.json:
        print_json(out)
        return
    for r in out["records"]:
        e = r["event"]
        click.echo(f"{e['time']:.3f} {e['principal']:<16} {e['action']:<20} {e['resource']:<28} {e['result']}")


@audit_group.command("export")
@pass_state
def audit_export(state: State) -> None:
    """Every record of the tenant as JSON lines (for a SIEM)."""
    client = state.client()
    cursor = None
    while True:
        page = client.audit(limit=1000, cursor=cursor)
        for record in page["records"]:
            click.echo(json.dumps(record, separators=(",", ":")))
        cursor = page.get("next_cursor")
        if not cursor:
            return


@audit_group.command("verify")
@click.option("--database", help="Verify offline: a database URL or SQLite file, no server or unseal needed.")
@click.option("--public-key", "public_keys", multiple=True, help="Offline: the checkpoint public key (hex or file).")
@click.option(
    "--witness",
    help="The audit witness file (file:///path or a path, see audit_witness): also finds deleted tails, chains "
    "and checkpoints.",
)
@output_option
@pass_state
def audit_verify(state: State, database: str | None, public_keys: tuple[str, ...], witness: str | None) -> None:
    """Checks every chain (online through the server, or offline from the database) and names the first bad record.

    Without --witness, the server compares with its own audit_witness file when it has one."""
    if database is not None:
        from skms.audit import verify as offline

        argv = ["--database", database] + [a for k in public_keys for a in ("--public-key", k)]
        argv += ["--witness", witness] if witness else []
        sys.exit(offline.main(argv + (["--json"] if state.json else [])))
    checkpoints = None
    if witness is not None:
        from skms.audit.witness import encode_checkpoint, read_witness

        checkpoints = [json.loads(encode_checkpoint(cp)) for cp in read_witness(witness)]
    report = state.client().verify_audit(witness=checkpoints)
    if state.json:
        print_json(report)
    elif report["ok"]:
        click.echo(
            click.style("OK", fg="green")
            + f": {report['records_checked']} records in {len(report['chains'])} chain(s)"
            + (
                f", compared with {report['witness_checkpoints']} witness checkpoints"
                if report.get("witness_checked")
                else ", no witness"
            )
        )
    else:
        for c in report["chains"]:  # every damaged chain, with what is missing or changed
            p = c.get("problem")
            if p:
                click.echo(
                    click.style("TAMPERED", fg="red")
                    + f": chain {p['chain_id']} record {p['seq']}: {p['kind']} ({p['detail']})"
                )
    sys.exit(0 if report["ok"] else 1)
