"""The system demo: vendor payloads through intake into CRM, the closed loop of a deal and a task, and the portal.

Every step goes through the services' public HTTP APIs on their demo ports, and every record the demo
makes is found again by a later run, which reports what already existed.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from servicekit.auth import issue_token
from servicekit.demo.api import Api, service_url
from servicekit.demo.client import Client, ensure_client
from servicekit.demo.intake import B2B_PIPELINE, SampleOutcome, configure_intake, ensure_pipeline, replay_payloads
from servicekit.demo.loop import run_closed_loop
from servicekit.demo.portal import PORTAL_EMAIL, PORTAL_PASSWORD, publish_to_portal
from servicekit.settings import ServiceSettings

__all__ = ["run_demo"]


def run_demo(samples_dir: Path) -> None:
    """Run every demo step against the running services and print the summary."""
    settings = ServiceSettings(service_name="demo")
    token = issue_token(settings.jwt_secret_key.get_secret_value(), "demo-admin", name="Demo admin", roles=["admin"])
    with httpx.Client(timeout=30) as http:
        api = Api(http, token)
        pipeline, existed = ensure_pipeline(api, B2B_PIPELINE)
        setup = [f"CRM pipeline {pipeline['key']}: {'already existed' if existed else 'created'}"]
        setup += configure_intake(api)
        _print_lines("Setup", setup)

        outcomes = replay_payloads(api, samples_dir)
        _print_outcomes(outcomes, samples_dir)

        client = ensure_client(api)
        _print_lines("Client records", _client_lines(client))
        _print_lines("Closed loop", run_closed_loop(api, client.deal))
        _print_lines("Portal", publish_to_portal(api, client))
        _print_addresses(api, client)


def _print_lines(title: str, lines: list[str]) -> None:
    print(f"\n{title}")
    for line in lines:
        print(f"  - {line}")


def _print_outcomes(outcomes: list[SampleOutcome], samples_dir: Path) -> None:
    print(f"\nPayloads replayed through intake (samples from {samples_dir})")
    if not samples_dir.is_dir():
        print(f"  the samples folder {samples_dir} does not exist: pass --samples DIR to replay its files")
    print(f"  {'payload':42} {'HTTP':4}  outcome")
    for outcome in outcomes:
        if outcome.deal_id is not None:
            result = f"deal {outcome.deal_id} in pipeline {outcome.pipeline}"
        else:
            result = f"no deal: {outcome.note}"
        print(f"  {outcome.file:42} {outcome.http_status:<4}  {result}")
    new_deals = sum(1 for outcome in outcomes if outcome.deal_id is not None)
    print(f"  {len(outcomes)} payloads, {new_deals} new deals")


def _client_lines(client: Client) -> list[str]:
    lines = [f"{label}: already existed" for label in client.existed]
    lines += [f"{label}: created" for label in client.created]
    lines.append(f"company {client.company['id']} ({client.company['name']}), deal {client.deal['id']}")
    return lines


def _print_addresses(api: Api, client: Client) -> None:
    crm = service_url("crm")
    print("\nAddresses")
    print(f"  board:      {crm}/ui/board/{client.deal['pipeline_id']}#token={api.token}")
    print(f"  deal card:  {crm}/ui/deals/{client.deal['id']}#token={api.token}")
    print(f"  workspace:  {crm}/ui/companies/{client.company['id']}#token={api.token}")
    print(f"  portal:     {service_url('extranet')}/portal/sign-in")
    print(f"              e-mail {PORTAL_EMAIL}, password {PORTAL_PASSWORD}")
    print(f"  APIs:       {crm}/docs and the /docs page of each other service")
    print("  a staff token for the APIs: .venv/bin/clientwork token --user demo --role admin")
