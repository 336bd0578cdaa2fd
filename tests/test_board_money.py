"""What a marketer sees of money and of unconfirmed campaigns on the board."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from landing import stripe_events as se

from conftest import AUTH, flush, post_event, rt


def row_head(html: str, campaign: str) -> str:
    """What the scoreboard shows beside a campaign's name in its row."""
    found = re.search(rf'<th scope="row"><a [^>]*>{campaign}</a>(.*?)</th>', html)
    assert found is not None, campaign
    return found.group(1)


def test_the_board_shows_net_revenue_and_marks_unconfirmed_campaigns(
    app: Flask, client: FlaskClient
) -> None:
    client.get("/thanks?session_id=cs_live_b1&utm_campaign=paid_one")
    client.get("/thanks?session_id=cs_live_b2&utm_campaign=just_landed")
    flush(app)
    post_event(
        client,
        se.checkout_session_completed(
            "cs_live_b1", amount_total=5000, payment_intent="pi_b1"
        ),
    )
    post_event(
        client,
        se.charge_refunded("ch_b1", payment_intent="pi_b1", amount_refunded=1250),
    )
    html = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert 'title="revenue less $12.50 refunded"' in html
    assert "net USD" in html
    assert "$37.50" in html  # net, in the figures and under the row's revenue
    row = re.search(
        r"<tr>\s*<th scope=\"row\"><a [^>]*>just_landed</a>(.*?)</th>", html
    )
    assert row is not None and "unconfirmed" in row.group(1)
    paid = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>paid_one</a>(.*?)</th>", html)
    assert paid is not None and "unconfirmed" not in paid.group(1)
    # With a webhook secret set, nothing tells the marketer to set one.
    assert "unconfirmed-notice" not in html


def test_a_marketer_keeps_an_unconfirmed_campaign_from_its_page(
    app: Flask, client: FlaskClient
) -> None:
    client.get("/thanks?session_id=cs_live_k1&utm_campaign=offline_ad")
    flush(app)
    page = client.get("/dashboard/campaigns/offline_ad", headers=AUTH)
    html = page.get_data(as_text=True)
    assert "Keep this campaign" in html
    action = re.search(r'id="keep-campaign" method="post" action="([^"]+)"', html)
    token = re.search(r'name="token" value="([0-9a-f]+)"', html)
    assert action is not None and token is not None
    url = action.group(1).replace("&amp;", "&")
    # A form from elsewhere has no token: refused, nothing changes.
    assert client.post(url, data={"token": "0" * 64}, headers=AUTH).status_code == 400
    assert "offline_ad" in rt(app).store.unconfirmed("live").expires
    done = client.post(url, data={"token": token.group(1)}, headers=AUTH)
    assert done.status_code == 303
    assert "offline_ad" not in rt(app).store.unconfirmed("live").expires
    after = client.get("/dashboard/campaigns/offline_ad", headers=AUTH)
    assert "Keep this campaign" not in after.get_data(as_text=True)
    # Without credentials the form is refused like every marketer's route.
    assert client.post(url, data={"token": token.group(1)}).status_code == 401


def test_without_a_webhook_secret_the_board_says_campaigns_expire(
    make_app: Callable[..., Flask],
) -> None:
    no_webhooks = make_app(STRIPE_WEBHOOK_SECRET="")
    client = no_webhooks.test_client()
    client.get("/thanks?session_id=cs_live_n1&utm_campaign=spring")
    flush(no_webhooks)
    html = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert "STRIPE_WEBHOOK_SECRET is not set" in html
    assert "expires 14 days after its last landing" in html
    assert "landing campaigns confirm NAME" in html
