"""A service started while Kafka is unreachable serves HTTP at once and reports Kafka as not ready."""

from __future__ import annotations

import httpx
import pytest

from tests.intake_support import JWT_KEY, bearer
from tests.support import ServiceProcess, eventually, free_port

pytestmark = pytest.mark.integration


async def test_service_serves_http_before_kafka(database_url: str) -> None:
    # Nothing listens on this port, so the service keeps waiting for Kafka for the whole test.
    intake = ServiceProcess(
        "intake",
        {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "JWT_SECRET_KEY": JWT_KEY,
            "ENVIRONMENT": "test",
        },
    ).start()
    try:
        async with httpx.AsyncClient(base_url=intake.url, timeout=5) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=60, interval=0.3)
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "ok"
            assert "waiting for Kafka" in ready.json()["checks"]["kafka"]

            # Intake stores and processes forms without Kafka, and its relay publishes once Kafka is reachable.
            form = await client.post(
                "/forms/website-contact",
                content="name=Анна&email=anna@example.com&message=Нужен договор".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert form.status_code == 202, form.text
            request_id = form.json()["request_id"]

            async def processed() -> bool:
                view = await client.get(f"/requests/{request_id}", headers=bearer())
                return bool(view.json()["status"] == "accepted")

            await eventually(processed, timeout=30)
    finally:
        intake.stop()
    # A stop while the service still waits for Kafka is a clean shutdown, not a crash.
    assert "Application shutdown complete" in intake.log_tail(), intake.log_tail()
