"""Render throughput: tidings vs python-liquid vs Jinja2 vs hand-written Python.

Each scenario is one message template written four ways: the Liquid source that
tidings renders (compiled, and on its interpreter for reference), the same source
rendered by python-liquid directly, an equivalent Jinja2 template and a
hand-written function (f-strings and str.join). Every engine parses once; before
timing, the script checks that all outputs are byte-identical. Each figure is
renders per second, the median of several repeats.

    .venv/bin/python benchmarks/render.py            # full run (about a minute)
    .venv/bin/python benchmarks/render.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
import liquid
from markupsafe import Markup
from markupsafe import escape as html_escape

import tidings

# -- data ------------------------------------------------------------------------

PROFILE: dict[str, Any] = {
    "name": "Daniel O'Kafor",
    "email": "daniel.okafor@example.com",
    "identity": "cust-48817",
    "customerType": "Gold",
    "city": "Austin",
}


def _product(name: str, pid: str, image: str, prices: list[str]) -> dict[str, Any]:
    labels = ["Cost of the product", "Transaction Fee", "Processing Fee", "Shipping Fee"]
    return {
        "productName": name,
        "productID": pid,
        "imageURL": image,
        "pricingDetails": [
            {"name": label, "value": value} for label, value in zip(labels, prices, strict=True)
        ],
    }


ORDER: dict[str, Any] = {
    "orderId": "NW-100-58213",
    "orderTotal": "$303.13",
    "productDetails": [
        _product(
            "Alpine Down Jacket",
            "NW-JKT-2231",
            "https://cdn.northwind.example.com/products/alpine-down-jacket-800.jpg",
            ["$219.00", "$4.38", "$1.50", "$0.00"],
        ),
        _product(
            'Merino Wool Beanie "Tom & Jerry" <Edition>',
            "NW-HAT-0412",
            "https://cdn.northwind.example.com/products/merino-beanie-800.jpg?size=m&color=red",
            ["$29.00", "$0.58", "$1.50", "$4.99"],
        ),
        _product(
            "Insulated Steel Bottle 1L",
            "NW-BTL-1090",
            "",  # empty: falls back to the default
            ["$34.50", "$0.69", "$1.50", "$4.99"],
        ),
    ],
}

EXAMPLE_1_TRIGGER: dict[str, Any] = {
    "Name": "Alpine Down Jacket",
    "Price": "$219.00",
    "ImageUrl": "https://cdn.northwind.example.com/products/alpine-down-jacket-800.jpg",
}

PUSH_TRIGGER: dict[str, Any] = {"steps": 15234, "streakDays": 12, "milestoneId": "m-15k"}

WEBHOOK_TRIGGER: dict[str, Any] = {
    "upgradedAt": "2024-05-02T10:15:00Z",
    "subscriptionId": "sub_8812",
    "previousPlan": {"code": "basic", "price": 9.99},
    "newPlan": {
        "code": "pro",
        "name": 'Pro "Annual"',
        "price": 99.0,
        "features": ["sso", "audit-log", "priority support"],
    },
    "billing": {"interval": "year", "currency": "USD", "trial": False},
    "note": "Upgraded via the \\billing\\ page\nthanks!",
}

# -- templates -------------------------------------------------------------------

# The seed examples, verbatim from the vendor's External Trigger guide.
EXAMPLE_1 = """Hey {{ Profile.name | default: "User" }}
Thank you for shopping with us!
Name: {{ ExternalTrigger.Name | default: "defaultName" }}
Price: {{ ExternalTrigger.Price | default: "defaultPrice" }}
ImageUrl: {{ ExternalTrigger.ImageUrl | default: "defaultImageUrl" }}"""

EXAMPLE_2 = """Hey {{ Profile.name | default: "User" }}
Thank you for shopping with us!
{% for product in ExternalTrigger.productDetails %}
Name: {{ product.productName | default: "defaultProductName"}}
productID: {{product.productID | default: "defaultProductId"}}
imageURL: {{product.imageURL | default: "defaultImageUrl"}}
{% for pricingDetail in product.pricingDetails %}
{{ pricingDetail.name | default : "defaultPriceName"}} : {{ pricingDetail.value | default : "defaultPriceValue"}}
{% endfor %}
{% endfor %}"""  # noqa: E501 - the seed template, verbatim

EXAMPLE_1_JINJA = """Hey {{ Profile.name | default("User", true) }}
Thank you for shopping with us!
Name: {{ ExternalTrigger.Name | default("defaultName", true) }}
Price: {{ ExternalTrigger.Price | default("defaultPrice", true) }}
ImageUrl: {{ ExternalTrigger.ImageUrl | default("defaultImageUrl", true) }}"""

EXAMPLE_2_JINJA = """Hey {{ Profile.name | default("User", true) }}
Thank you for shopping with us!
{% for product in ExternalTrigger.productDetails %}
Name: {{ product.productName | default("defaultProductName", true) }}
productID: {{ product.productID | default("defaultProductId", true) }}
imageURL: {{ product.imageURL | default("defaultImageUrl", true) }}
{% for pricingDetail in product.pricingDetails %}
{{ pricingDetail.name | default("defaultPriceName", true) }} : \
{{ pricingDetail.value | default("defaultPriceValue", true) }}
{% endfor %}
{% endfor %}"""

PUSH = (
    'You walked {{ ExternalTrigger.steps }} steps, {{ Profile.name | default: "champ" }}! '
    "That's day {{ ExternalTrigger.streakDays | default: 1 }} of your streak."
    "{% if ExternalTrigger.steps >= 15000 %} New personal best!{% endif %}"
)

PUSH_JINJA = (
    'You walked {{ ExternalTrigger.steps }} steps, {{ Profile.name | default("champ", true) }}! '
    "That's day {{ ExternalTrigger.streakDays | default(1, true) }} of your streak."
    "{% if ExternalTrigger.steps >= 15000 %} New personal best!{% endif %}"
)

HTML_EMAIL = """<!DOCTYPE html>
<html lang="en">
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;">
  <table role="presentation" width="100%" style="max-width:560px;margin:0 auto;">
    <tr><td>
      <h1 style="font-size:22px;">Hey {{ Profile.name | default: "there" }},</h1>
      <p>Thank you for shopping with us! Order <strong>{{ ExternalTrigger.orderId }}</strong>.</p>
      {% for product in ExternalTrigger.productDetails %}
      <table role="presentation" width="100%" style="border-top:1px solid #e4e7eb;">
        <tr>
          <td width="96"><img src="{{ product.imageURL | default: "https://cdn.example.com/p.jpg" }}" alt="{{ product.productName }}"></td>
          <td>
            <div style="font-weight:bold;">{{ product.productName | default: "Your item" }}</div>
            <div style="font-size:12px;">Product ID {{ product.productID }}</div>
            <table role="presentation">
              {% for pricingDetail in product.pricingDetails %}
              <tr><td>{{ pricingDetail.name }}</td><td align="right">{{ pricingDetail.value }}</td></tr>
              {% endfor %}
            </table>
          </td>
        </tr>
      </table>
      {% endfor %}
      <p><strong>Order total: {{ ExternalTrigger.orderTotal }}</strong></p>
      {% if Profile.customerType == "Gold" %}
      <p>As a Gold member, take 15% off with code <strong>{{ ExternalTrigger.discountCode | default: "GOLD15" }}</strong>.</p>
      {% endif %}
    </td></tr>
  </table>
</body>
</html>
"""  # noqa: E501 - an email template, kept as a marketer writes it

HTML_EMAIL_JINJA = (
    HTML_EMAIL.replace('default: "there"', 'default("there", true)')
    .replace(
        'default: "https://cdn.example.com/p.jpg"', 'default("https://cdn.example.com/p.jpg", true)'
    )
    .replace('default: "Your item"', 'default("Your item", true)')
    .replace('default: "GOLD15"', 'default("GOLD15", true)')
)

WEBHOOK = """{
  "event": "subscription.upgraded",
  "occurredAt": "{{ ExternalTrigger.upgradedAt }}",
  "user": {"id": "{{ Profile.identity }}", "name": "{{ Profile.name | default: "Customer" }}"},
  "subscription": {
    "id": "{{ ExternalTrigger.subscriptionId }}",
    "from": {{ ExternalTrigger.previousPlan | json }},
    "to": {"code": "{{ ExternalTrigger.newPlan.code }}", "name": "{{ ExternalTrigger.newPlan.name }}",
           "price": {{ ExternalTrigger.newPlan.price | json }}, "features": {{ ExternalTrigger.newPlan.features | json }}},
    "billing": {{ ExternalTrigger.billing | json }}
  },
  "note": "{{ ExternalTrigger.note | default: "" }}"
}"""  # noqa: E501

# python-liquid and Jinja2 have no JSON output context: the equivalent templates
# call a JSON-string filter explicitly on every value inside a JSON string.
WEBHOOK_EXPLICIT = """{
  "event": "subscription.upgraded",
  "occurredAt": "{{ ExternalTrigger.upgradedAt | jstr }}",
  "user": {"id": "{{ Profile.identity | jstr }}", "name": "{{ Profile.name | default: "Customer" | jstr }}"},
  "subscription": {
    "id": "{{ ExternalTrigger.subscriptionId | jstr }}",
    "from": {{ ExternalTrigger.previousPlan | json }},
    "to": {"code": "{{ ExternalTrigger.newPlan.code | jstr }}", "name": "{{ ExternalTrigger.newPlan.name | jstr }}",
           "price": {{ ExternalTrigger.newPlan.price | json }}, "features": {{ ExternalTrigger.newPlan.features | json }}},
    "billing": {{ ExternalTrigger.billing | json }}
  },
  "note": "{{ ExternalTrigger.note | default: "" | jstr }}"
}"""  # noqa: E501

WEBHOOK_JINJA = WEBHOOK_EXPLICIT.replace(
    'default: "Customer"', 'default("Customer", true)'
).replace('default: ""', 'default("", true)')


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _jstr(value: object) -> str:
    text = "" if value is None else str(value)
    return json.dumps(text, ensure_ascii=False)[1:-1]


# -- hand-written equivalents ----------------------------------------------------


def _or(value: object, fallback: str) -> Any:
    return value if value not in (None, "", False, [], {}) else fallback


def hand_example_1(p: dict[str, Any], t: dict[str, Any]) -> str:
    return (
        f"Hey {_or(p.get('name'), 'User')}\n"
        "Thank you for shopping with us!\n"
        f"Name: {_or(t.get('Name'), 'defaultName')}\n"
        f"Price: {_or(t.get('Price'), 'defaultPrice')}\n"
        f"ImageUrl: {_or(t.get('ImageUrl'), 'defaultImageUrl')}"
    )


def _example_2_parts(p: dict[str, Any], t: dict[str, Any], esc: Callable[[Any], str]) -> str:
    out = [f"Hey {esc(_or(p.get('name'), 'User'))}\nThank you for shopping with us!\n"]
    for product in t.get("productDetails") or []:
        out.append(
            f"\nName: {esc(_or(product.get('productName'), 'defaultProductName'))}\n"
            f"productID: {esc(_or(product.get('productID'), 'defaultProductId'))}\n"
            f"imageURL: {esc(_or(product.get('imageURL'), 'defaultImageUrl'))}\n"
        )
        for detail in product.get("pricingDetails") or []:
            out.append(
                f"\n{esc(_or(detail.get('name'), 'defaultPriceName'))} : "
                f"{esc(_or(detail.get('value'), 'defaultPriceValue'))}\n"
            )
        out.append("\n")
    return "".join(out)


def hand_example_2(p: dict[str, Any], t: dict[str, Any]) -> str:
    return _example_2_parts(p, t, str)


def hand_example_2_html(p: dict[str, Any], t: dict[str, Any]) -> str:
    return _example_2_parts(p, t, lambda v: str(html_escape(v)))


def hand_push(p: dict[str, Any], t: dict[str, Any]) -> str:
    steps = t.get("steps")
    best = " New personal best!" if isinstance(steps, int) and steps >= 15000 else ""
    return (
        f"You walked {steps} steps, {_or(p.get('name'), 'champ')}! "
        f"That's day {_or(t.get('streakDays'), 1)} of your streak.{best}"
    )


_HTML_HEAD, _rest = HTML_EMAIL.split("{% for product in ExternalTrigger.productDetails %}")
_HTML_PRODUCT, _HTML_TAIL = _rest.split("{% endfor %}\n      <p><strong>")


def hand_html_email(p: dict[str, Any], t: dict[str, Any]) -> str:
    e = html_escape
    out = [
        '<!DOCTYPE html>\n<html lang="en">\n<body style="margin:0;padding:24px;'
        'background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;">\n'
        '  <table role="presentation" width="100%" style="max-width:560px;margin:0 auto;">\n'
        "    <tr><td>\n"
        f'      <h1 style="font-size:22px;">Hey {e(_or(p.get("name"), Markup("there")))},</h1>\n'
        "      <p>Thank you for shopping with us! Order "
        f"<strong>{e(t.get('orderId', ''))}</strong>.</p>\n      "
    ]
    for product in t.get("productDetails") or []:
        image = e(_or(product.get("imageURL"), Markup("https://cdn.example.com/p.jpg")))
        out.append(
            "\n"
            '      <table role="presentation" width="100%" style="border-top:1px solid #e4e7eb;">\n'
            "        <tr>\n"
            f'          <td width="96"><img src="{image}" '
            f'alt="{e(product.get("productName", ""))}">'
            "</td>\n"
            "          <td>\n"
            '            <div style="font-weight:bold;">'
            f"{e(_or(product.get('productName'), Markup('Your item')))}</div>\n"
            f'            <div style="font-size:12px;">Product ID {e(product.get("productID", ""))}'
            "</div>\n"
            '            <table role="presentation">\n              '
        )
        for detail in product.get("pricingDetails") or []:
            out.append(
                f"\n              <tr><td>{e(detail.get('name', ''))}</td>"
                f'<td align="right">{e(detail.get("value", ""))}</td></tr>\n              '
            )
        out.append("\n            </table>\n          </td>\n        </tr>\n      </table>\n      ")
    out.append(f"\n      <p><strong>Order total: {e(t.get('orderTotal', ''))}</strong></p>\n      ")
    if p.get("customerType") == "Gold":
        code = e(_or(t.get("discountCode"), Markup("GOLD15")))
        out.append(
            "\n      <p>As a Gold member, take 15% off with code "
            f"<strong>{code}</strong>.</p>\n      "
        )
    out.append("\n    </td></tr>\n  </table>\n</body>\n</html>\n")
    return "".join(out)


def hand_webhook(p: dict[str, Any], t: dict[str, Any]) -> str:
    plan = t.get("newPlan") or {}
    return (
        "{\n"
        '  "event": "subscription.upgraded",\n'
        f'  "occurredAt": "{_jstr(t.get("upgradedAt"))}",\n'
        f'  "user": {{"id": "{_jstr(p.get("identity"))}", '
        f'"name": "{_jstr(_or(p.get("name"), "Customer"))}"}},\n'
        '  "subscription": {\n'
        f'    "id": "{_jstr(t.get("subscriptionId"))}",\n'
        f'    "from": {_json(t.get("previousPlan"))},\n'
        f'    "to": {{"code": "{_jstr(plan.get("code"))}", "name": "{_jstr(plan.get("name"))}",\n'
        f'           "price": {_json(plan.get("price"))}, '
        f'"features": {_json(plan.get("features"))}}},\n'
        f'    "billing": {_json(t.get("billing"))}\n'
        "  },\n"
        f'  "note": "{_jstr(_or(t.get("note"), ""))}"\n'
        "}"
    )


# -- scenarios -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    liquid_source: str  # what tidings renders
    escape: tidings.EscapeMode
    trigger: dict[str, Any]
    jinja_source: str
    hand: Callable[[dict[str, Any], dict[str, Any]], str]
    liquid_direct_source: str | None = None  # python-liquid, if it needs explicit filters


SCENARIOS = [
    Scenario("seed example 1 (text)", EXAMPLE_1, "text", EXAMPLE_1_TRIGGER, EXAMPLE_1_JINJA,
             hand_example_1),
    Scenario("seed example 2 (text)", EXAMPLE_2, "text", ORDER, EXAMPLE_2_JINJA, hand_example_2),
    Scenario("seed example 2 (email HTML)", EXAMPLE_2, "html", ORDER, EXAMPLE_2_JINJA,
             hand_example_2_html),
    Scenario("push message", PUSH, "text", PUSH_TRIGGER, PUSH_JINJA, hand_push),
    Scenario("HTML email, autoescape", HTML_EMAIL, "html", ORDER, HTML_EMAIL_JINJA,
             hand_html_email),
    Scenario("webhook JSON body", WEBHOOK, "json", WEBHOOK_TRIGGER, WEBHOOK_JINJA, hand_webhook,
             liquid_direct_source=WEBHOOK_EXPLICIT),
]  # fmt: skip


def engines(s: Scenario) -> dict[str, Callable[[], str]]:
    """Build each engine's renderer for ``s`` (parsing happens here, once)."""
    html = s.escape == "html"
    compiled = tidings.compile_template(s.liquid_source, escape=s.escape)
    if not compiled.compiled:
        raise SystemExit(f"{s.name}: tidings did not compile this template")
    # The compiled function itself must succeed: a raise would silently re-render
    # on the interpreter and time that instead.
    compiled._render_fn({"Profile": PROFILE, "ExternalTrigger": s.trigger})  # type: ignore[misc]
    interpreted = tidings.Template(s.liquid_source, escape=s.escape, compile=False)

    liquid_env = liquid.Environment(autoescape=html)
    liquid_env.add_filter("json", _json)
    liquid_env.add_filter("jstr", _jstr)
    direct = liquid_env.from_string(s.liquid_direct_source or s.liquid_source)

    jinja_env = jinja2.Environment(autoescape=html, keep_trailing_newline=True)
    jinja_env.filters["json"] = _json
    jinja_env.filters["jstr"] = _jstr
    jinja_template = jinja_env.from_string(s.jinja_source)

    profile, trigger = PROFILE, s.trigger
    return {
        "tidings": lambda: compiled.render(profile, trigger),
        "tidings (interpreted)": lambda: interpreted.render(profile, trigger),
        "python-liquid": lambda: direct.render(Profile=profile, ExternalTrigger=trigger),
        "Jinja2": lambda: jinja_template.render(Profile=profile, ExternalTrigger=trigger),
        "hand-written": lambda: s.hand(profile, trigger),
    }


SLOW = frozenset({"tidings (interpreted)", "python-liquid"})


def renders_per_second(fn: Callable[[], str], n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few renders, for a smoke run")
    parser.add_argument("--renders", type=int, default=20_000, help="renders per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (the median is kept)")
    args = parser.parse_args()
    n, repeats = (1_000, 3) if args.quick else (args.renders, args.repeats)
    # The interpreters are ~10x slower: fewer renders keep the run short.
    n_slow = max(n // 16, 100)

    print(f"python {platform.python_version()} on {platform.machine()}, nproc={os.cpu_count()}")
    print(f"{n:,} renders per repeat ({n_slow:,} for the interpreters), median of {repeats}\n")

    failed = False
    rows = []
    for scenario in SCENARIOS:
        fns = engines(scenario)
        outputs = {name: fn() for name, fn in fns.items()}
        reference = outputs["python-liquid"]
        different = [name for name, out in outputs.items() if out != reference]
        if different:
            failed = True
            print(f"!! {scenario.name}: output differs from python-liquid for {different}")
            for name in different:
                print(f"--- {name}\n{outputs[name]!r}\n--- python-liquid\n{reference!r}")
            continue
        rates = {
            name: renders_per_second(fn, n_slow if name in SLOW else n, repeats)
            for name, fn in fns.items()
        }
        rows.append((scenario.name, rates))

    header = (
        f"{'scenario':<28} {'tidings':>9} {'interp.':>9} {'liquid':>9} {'Jinja2':>9} "
        f"{'hand':>9} | {'t/liquid':>8} {'t/Jinja2':>8} {'t/hand':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        t = r["tidings"]
        print(
            f"{name:<28} {t:>9,.0f} {r['tidings (interpreted)']:>9,.0f} "
            f"{r['python-liquid']:>9,.0f} {r['Jinja2']:>9,.0f} {r['hand-written']:>9,.0f} | "
            f"{t / r['python-liquid']:>7.1f}x {t / r['Jinja2']:>7.2f}x "
            f"{t / r['hand-written']:>6.2f}x"
        )
    print("\nrenders/s; all outputs checked byte-identical before timing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
