"""third_party_scan: SDKs, imports, manifests and endpoints of third parties in a source folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from warden_analysers.third_party_scan.analyser import VERSION, finding_id, run
from warden_analysers.third_party_scan.catalogue import CATALOGUE_ERROR, RECIPIENTS_FILE, load_catalogue
from warden_analysers.third_party_scan.index import RecipientIndex

from warden.analyser import AnalyserContext
from warden.catalogue import Catalogue
from warden.errors import LoadError
from warden.schemas.policy import System
from warden.schemas.scan import SystemScan

SYSTEM = "shop-src"


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def _ctx(
    base: Path, location: str = "src", kind: str = "source", roots: tuple[Path, ...] | None = None
) -> Any:
    system = System(id=SYSTEM, type=kind, location=location, owner="dev@example")  # type: ignore[arg-type]
    return AnalyserContext(
        tenant="acme",
        run_id="run-1",
        step_id="scan",
        system_id=SYSTEM,
        systems=(system,),
        base_dir=base,
        allowed_roots=roots if roots is not None else (base,),
    )


def _scan(tmp_path: Path, files: dict[str, str | bytes], **config: int) -> dict[str, Any]:
    _write(tmp_path / "src", files)
    return run({}, dict(config), _ctx(tmp_path))


def _found(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["recipient"]: r for r in out["recipients"]}


# --- Python ---------------------------------------------------------------------------------


def test_python_imports_are_read_from_the_syntax_tree(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "app/pay.py": "import os\n\nimport stripe\n",
            "app/ai.py": "from openai import AzureOpenAI\nfrom openai import OpenAI\n",
            "app/files.py": "from google.cloud import storage, bigquery\nimport boto3.session as s\n",
        },
    )
    found = _found(out)
    assert set(found) == {
        "Stripe",
        "OpenAI",
        "Azure OpenAI",
        "Google Cloud Storage",
        "Amazon Web Services (AWS)",
    }
    assert found["Stripe"]["location"] == "app/pay.py:3"
    assert found["Stripe"]["evidence"] == "import stripe"
    assert found["Azure OpenAI"]["evidence"] == "from openai import AzureOpenAI"
    assert found["OpenAI"]["location"] == "app/ai.py:2"
    assert found["Google Cloud Storage"]["evidence"] == "from google.cloud import storage"


def test_commented_out_imports_and_imports_inside_strings_are_not_hits(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "app/main.py": (
                '"""Was: import sentry_sdk"""\n'
                "# import stripe\n"
                "x = 1  # from openai import OpenAI\n"
                "CODE = 'import mixpanel'\n"
                'SNIPPET = """\nfrom anthropic import Anthropic\n"""\n'
                "import analytics  # a local module, not Segment\n"
            ),
            "app/analytics.py": "def track() -> None: ...\n",
        },
    )
    assert out["recipients"] == []
    assert out["findings"] == []
    assert out["stats"]["files_scanned"] == 2


def test_python_url_literals_are_endpoints_but_docstring_urls_are_not(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "mail.py": (
                '"""Mail goes out through https://api.mailgun.net (see the runbook)."""\n'
                "import requests\n\n"
                "def send() -> None:\n"
                '    requests.post("https://api.sendgrid.com/v3/mail/send?key=abc")\n'
                'DSN = "https://secretkey@o123.ingest.sentry.io/42"\n'
            )
        },
    )
    found = _found(out)
    assert set(found) == {"SendGrid", "Sentry"}
    assert found["SendGrid"]["location"] == "mail.py:5"
    assert found["SendGrid"]["evidence"] == "api.sendgrid.com/v3/mail/send"
    assert found["Sentry"]["evidence"] == "o123.ingest.sentry.io/42"
    assert "secretkey" not in str(out)


def test_a_python_file_with_a_syntax_error_is_still_scanned_without_its_comments(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "legacy.py": (
                'print "python 2"\n'
                "import stripe, os\n"
                "# import mixpanel\n"
                "from twilio.rest import Client\n"
                'URL = "https://api.openai.com/v1/chat"\n'
            )
        },
    )
    found = _found(out)
    assert set(found) == {"Stripe", "Twilio", "OpenAI"}
    assert found["Twilio"]["location"] == "legacy.py:4"
    assert found["OpenAI"]["location"] == "legacy.py:5"
    assert out["stats"]["python_parse_fallbacks"] == 1


# --- JavaScript, TypeScript, HTML -----------------------------------------------------------


def test_javascript_and_typescript_imports_requires_and_dynamic_imports(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "web/a.js": (
                "import mixpanel from 'mixpanel-browser';\n"
                'const Sentry = require("@sentry/node");\n'
                "import './styles.css';\n"
                "import track from './analytics';\n"
            ),
            "web/b.ts": (
                "export * from '@stripe/stripe-js/pure';\n"
                "const amp = await import('@amplitude/analytics-browser');\n"
                "// import Anthropic from '@anthropic-ai/sdk';\n"
                "/* const tw = require('twilio'); */\n"
            ),
        },
    )
    found = _found(out)
    assert set(found) == {"Mixpanel", "Sentry", "Stripe", "Amplitude"}
    assert found["Sentry"]["location"] == "web/a.js:2"
    assert found["Sentry"]["evidence"] == 'const Sentry = require("@sentry/node");'
    assert found["Amplitude"]["location"] == "web/b.ts:2"


def test_javascript_endpoints_in_fetch_and_axios_calls(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "client.js": (
                "const url = 'https://example.com/a//b';\n"
                'fetch("https://api.segment.io/v1/track", {method: "POST"});\n'
                "axios.post(`https://api.mailgun.net/v3/${domain}/messages`, form);\n"
                '// fetch("https://api.twilio.com/2010-04-01")\n'
                "window.dataLayer.push({event: 'x'});\n"
            )
        },
    )
    found = _found(out)
    assert set(found) == {"Segment", "Mailgun"}
    assert found["Mailgun"]["location"] == "client.js:3"


def test_html_script_tags_inline_snippets_and_commented_out_tags(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "templates/base.html": (
                "<html><head>\n"
                '<script src="https://js.stripe.com/v3/"></script>\n'
                '<!-- <script src="https://static.hotjar.com/c/hotjar.js"></script> -->\n'
                '{# <script src="https://cdn.segment.com/analytics.js"></script> #}\n'
                "<script>\n"
                "  // fetch('https://api.mixpanel.com/track');\n"
                "  t.src='https://connect.facebook.net/en_US/fbevents.js';\n"
                "  fbq('init', '0000');\n"
                "</script>\n"
                "<p>Don't worry: we won't</p>\n"
            )
        },
    )
    found = _found(out)
    assert set(found) == {"Stripe", "Meta (Facebook)"}
    assert found["Stripe"]["location"] == "templates/base.html:2"
    assert found["Meta (Facebook)"]["location"] == "templates/base.html:7"
    assert found["Meta (Facebook)"]["occurrences"] == 2


def test_the_most_specific_host_pattern_wins(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "a.html": '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n',
            "b.html": '<script src="https://www.googletagmanager.com/gtm.js?id=GTM-1"></script>\n',
            "c.yaml": "mail: email-smtp.eu-west-1.amazonaws.com\nbucket: https://b.s3.eu-west-1.amazonaws.com/x\n",
        },
    )
    found = _found(out)
    assert found["Google Analytics"]["location"] == "a.html:1"
    assert found["Google Analytics"]["evidence"] == "www.googletagmanager.com/gtag/js"
    assert found["Google Tag Manager"]["location"] == "b.html:1"
    assert found["Amazon SES"]["location"] == "c.yaml:1"
    assert found["Amazon S3"]["location"] == "c.yaml:2"
    assert "Amazon Web Services (AWS)" not in found


# --- manifests and config -------------------------------------------------------------------


def test_package_json_runtime_dependencies_count_and_dev_dependencies_do_not(tmp_path: Path) -> None:
    package = (
        "{\n"
        '  "name": "shop",\n'
        '  "dependencies": {\n'
        '    "react": "^18.0.0",\n'
        '    "@sentry/react": "^8.0.0",\n'
        '    "stripe": "^15.0.0"\n'
        "  },\n"
        '  "devDependencies": {"@datadog/datadog-ci": "^2.0.0"}\n'
        "}\n"
    )
    found = _found(_scan(tmp_path, {"package.json": package}))
    assert set(found) == {"Sentry", "Stripe"}
    assert found["Sentry"]["location"] == "package.json:5"
    assert found["Stripe"]["evidence"] == '"stripe": "^15.0.0"'


def test_requirements_txt_reads_names_and_skips_comments_and_options(tmp_path: Path) -> None:
    requirements = (
        "Sentry_SDK[flask]>=2.0  # errors\n"
        "-e git+https://example.com/x.git#egg=mixpanel\n"
        "--index-url https://pypi.org/simple\n"
        "# twilio==9.0\n"
        "flask==3.0\n"
    )
    found = _found(_scan(tmp_path, {"requirements-prod.txt": requirements}))
    assert set(found) == {"Sentry"}
    assert found["Sentry"]["location"] == "requirements-prod.txt:1"
    assert found["Sentry"]["evidence"] == "Sentry_SDK[flask]>=2.0"


def test_pyproject_pipfile_and_gemfile_runtime_dependencies(tmp_path: Path) -> None:
    pyproject = (
        "[project]\n"
        'name = "shop"\n'
        'dependencies = ["anthropic>=0.30", "httpx"]\n'
        "[tool.poetry.dependencies]\n"
        'python = "^3.11"\n'
        'cohere = "^5"\n'
    )
    pipfile = '[packages]\nrollbar = "*"\n\n[dev-packages]\nbugsnag = "*"\n'
    gemfile = "source 'https://rubygems.org'\n# gem 'stripe'\ngem 'twilio-ruby', '~> 7.0'\n"
    found = _found(_scan(tmp_path, {"pyproject.toml": pyproject, "Pipfile": pipfile, "Gemfile": gemfile}))
    assert set(found) == {"Anthropic", "Cohere", "Rollbar", "Twilio"}
    assert found["Cohere"]["location"] == "pyproject.toml:6"
    assert found["Twilio"]["location"] == "Gemfile:3"


def test_config_files_show_hosts_and_env_templates_show_variable_names_only(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "config/settings.yaml": "smtp:\n  host: smtp.postmarkapp.com\n# old: https://api.mailgun.net\n",
            ".env.example": "# keys\nSENDGRID_API_KEY=\nDEBUG=1\n",
            ".env": "TWILIO_AUTH_TOKEN=real-secret-value\n",
            "package-lock.json": '{"packages": {"node_modules/stripe": {"resolved": "https://api.stripe.com"}}}\n',
        },
    )
    found = _found(out)
    assert set(found) == {"Postmark", "SendGrid"}
    assert found["Postmark"]["location"] == "config/settings.yaml:2"
    assert found["SendGrid"]["evidence"] == "SENDGRID_API_KEY"
    assert out["stats"]["skipped"] == {"secrets": 1}
    assert "real-secret-value" not in str(out)


def test_long_evidence_is_cut_to_the_contract_limit_and_relative_imports_are_local(tmp_path: Path) -> None:
    long_line = "stripe==10.0 ; python_version >= '3.8' and platform_system != '" + "x" * 400 + "'\n"
    out = _scan(tmp_path, {"requirements.txt": long_line, "pkg/a.py": "from . import openai\n"})
    scan = SystemScan.model_validate(out)
    assert [r.recipient for r in scan.recipients] == ["Stripe"]
    assert len(scan.recipients[0].evidence) == 300
    assert scan.recipients[0].evidence.startswith("stripe==10.0 ;")


def test_code_evidence_is_shown_before_a_manifest_line(tmp_path: Path) -> None:
    out = _scan(tmp_path, {"requirements.txt": "stripe==10.0\n", "app.py": "import os\nimport stripe\n"})
    stripe = _found(out)["Stripe"]
    assert (stripe["location"], stripe["evidence"], stripe["occurrences"]) == ("app.py:2", "import stripe", 2)


# --- bounded and safe -----------------------------------------------------------------------


def test_dependency_vcs_virtualenv_and_vendored_folders_are_skipped(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "node_modules/@sentry/node/index.js": "require('stripe');\n",
            ".git/config": "url = https://api.openai.com\n",
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/python3.11/site-packages/x/__init__.py": "import anthropic\n",
            "vendor/lib.py": "import mixpanel\n",
            "static/app.min.js": "import 'mixpanel-browser';\n",
            "static/bundle.js": "var a=1;" * 400 + "require('@amplitude/analytics-browser');\n",
            "app.py": "import os\n",
        },
    )
    assert out["recipients"] == []
    assert out["stats"]["files_scanned"] == 1
    assert out["stats"]["skipped"] == {"minified": 2}


def test_symlinks_out_of_the_root_are_not_followed(tmp_path: Path) -> None:
    _write(tmp_path / "outside", {"secret.py": "import stripe\n", "lib/mod.py": "import openai\n"})
    _write(tmp_path / "src", {"app.py": "import os\n"})
    os.symlink(tmp_path / "outside" / "secret.py", tmp_path / "src" / "linked.py")
    os.symlink(tmp_path / "outside" / "lib", tmp_path / "src" / "lib")
    out = run({}, {}, _ctx(tmp_path, roots=(tmp_path / "src",)))
    assert out["recipients"] == []
    assert out["stats"]["skipped"] == {"symlink_escape": 2}


def test_a_system_outside_the_allowed_roots_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "elsewhere", {"app.py": "import stripe\n"})
    (tmp_path / "roots").mkdir()
    with pytest.raises(LoadError) as outside:
        run({}, {}, _ctx(tmp_path / "roots", location="../elsewhere"))
    assert outside.value.code == "outside_allowed_roots"
    assert outside.value.fix and "allowed_roots" in outside.value.fix
    os.symlink(tmp_path / "elsewhere", tmp_path / "roots" / "src")
    with pytest.raises(LoadError) as linked:
        run({}, {}, _ctx(tmp_path / "roots"))
    assert linked.value.code == "outside_allowed_roots"
    with pytest.raises(LoadError) as no_roots:
        run({}, {}, _ctx(tmp_path, location="elsewhere", roots=()))
    assert no_roots.value.code == "outside_allowed_roots"


def test_wrong_missing_or_absent_systems_give_coded_errors(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite").write_bytes(b"")
    with pytest.raises(LoadError) as wrong:
        run({}, {}, _ctx(tmp_path, location="db.sqlite", kind="sqlite"))
    assert wrong.value.code == "wrong_system_type"
    with pytest.raises(LoadError) as missing:
        run({}, {}, _ctx(tmp_path, location="no-such-folder"))
    assert missing.value.code == "system_not_found"
    ctx = AnalyserContext(tenant="acme", run_id="r", step_id="s", system_id="ghost", base_dir=tmp_path)
    with pytest.raises(LoadError) as absent:
        run({}, {}, ctx)
    assert absent.value.code == "no_system"
    with pytest.raises(LoadError) as none:
        run({}, {}, None)
    assert none.value.code == "no_system"


def test_a_file_over_the_size_cap_is_skipped(tmp_path: Path) -> None:
    big = "import stripe\n" + "x = 1\n" * 400
    out = _scan(tmp_path, {"big.py": big, "small.py": "import openai\n"}, max_file_bytes=1024)
    assert set(_found(out)) == {"OpenAI"}
    assert out["stats"]["skipped"] == {"too_large": 1}
    assert out["stats"]["max_file_bytes"] == 1024


def test_the_file_cap_truncates_the_scan_and_says_so(tmp_path: Path) -> None:
    files = {f"m{i}.py": f"import {sdk}\n" for i, sdk in enumerate(["stripe", "openai", "twilio", "rollbar"])}
    out = _scan(tmp_path, {**files, "logo.png": b"\x89PNG"}, max_files=2)
    assert out["stats"]["truncated"] is True
    assert out["stats"]["files_scanned"] == 2
    assert set(_found(out)) == {"Stripe", "OpenAI"}
    whole = run({}, {}, _ctx(tmp_path))
    assert whole["stats"]["truncated"] is False
    assert whole["stats"]["files_ignored"] == 1


def test_binary_and_undecodable_files_are_tolerated(tmp_path: Path) -> None:
    out = _scan(
        tmp_path,
        {
            "blob.py": b"import openai\x00\x01\x02",
            "latin.py": b"import stripe\nNAME = 'caf\xe9'\n",
            "page.html": b"<script src='https://js.stripe.com/v3'></script>\xff\xfe",
        },
    )
    assert set(_found(out)) == {"Stripe"}
    assert out["stats"]["skipped"] == {"binary": 1}
    assert out["stats"]["files_decoded_lossily"] == 2
    assert _found(out)["Stripe"]["occurrences"] == 2


# --- output ---------------------------------------------------------------------------------


def test_one_finding_per_recipient_with_evidence_countries_and_transfer(tmp_path: Path) -> None:
    out = _scan(tmp_path, {"pay.py": "import Adyen\nimport stripe\nimport stripe.error\n"})
    scan = SystemScan.model_validate(out)
    assert (scan.system_id, scan.system_type, scan.scanner) == (
        SYSTEM,
        "source",
        f"third_party_scan@{VERSION}",
    )
    findings = {f.details["recipient"]: f for f in scan.findings}
    assert set(findings) == {"Adyen", "Stripe"}
    stripe = findings["Stripe"]
    assert (stripe.code, stripe.severity, stripe.category, stripe.system_id) == (
        "scan.third_party",
        "info",
        "recipients",
        SYSTEM,
    )
    assert stripe.id == finding_id(SYSTEM, "Stripe")
    assert stripe.evidence[0].location == "pay.py:2"
    assert stripe.evidence[0].quote == "import stripe"
    assert stripe.evidence[0].system_id == SYSTEM
    assert stripe.details | {"data_categories": []} == {
        "recipient": "Stripe",
        "kind": "payment",
        "countries": ["US"],
        "occurrences": 2,
        "transfer": True,
        "data_categories": [],
    }
    assert "user.financial.credit_card" in stripe.details["data_categories"]
    assert findings["Adyen"].details["transfer"] is False
    assert findings["Adyen"].details["countries"] == ["NL"]
    again = run({}, {}, _ctx(tmp_path))
    assert [f["id"] for f in again["findings"]] == [f.id for f in scan.findings]
    assert finding_id("other-system", "Stripe") != stripe.id


def test_unknown_or_invalid_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as unknown:
        _scan(tmp_path, {"a.py": ""}, max_depth=3)
    assert unknown.value.code == "schema"
    with pytest.raises(LoadError):
        run({}, {"max_files": 0}, _ctx(tmp_path))


# --- catalogue and manifest -----------------------------------------------------------------


def test_the_catalogue_covers_the_well_known_services() -> None:
    names = {r.name for r in load_catalogue().recipients}
    expected = {
        "Google Analytics", "Google Tag Manager", "Segment", "Mixpanel", "Amplitude", "Hotjar",
        "Meta (Facebook)", "Google Ads (DoubleClick)", "TikTok Pixel", "LinkedIn Insight Tag",
        "Stripe", "PayPal", "Adyen", "Braintree", "Klarna", "SendGrid", "Mailchimp", "Mailgun",
        "Postmark", "Amazon SES", "Twilio", "Sentry", "Bugsnag", "Rollbar", "Datadog", "New Relic",
        "Zendesk", "Intercom", "Freshdesk", "OpenAI", "Anthropic", "Google Gemini", "Google Vertex AI",
        "Cohere", "Mistral AI", "Amazon S3", "Amazon Web Services (AWS)", "Google Cloud Storage",
        "Azure Blob Storage", "Cloudflare", "Firebase",
    }  # fmt: skip
    assert expected <= names


def test_every_catalogue_data_category_exists_in_fideslang() -> None:
    from fideslang import DEFAULT_TAXONOMY

    known = {category.fides_key for category in DEFAULT_TAXONOMY.data_category}
    used = {key for r in load_catalogue().recipients for key in r.data_categories}
    assert used - known == set()


def test_a_malformed_catalogue_is_a_coded_error_naming_the_line(tmp_path: Path) -> None:
    data = yaml.safe_load(RECIPIENTS_FILE.read_text(encoding="utf-8"))
    data["recipients"][1]["kind"] = "telepathy"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load_catalogue(bad)
    assert caught.value.code == CATALOGUE_ERROR
    assert caught.value.path == "recipients[1].kind"
    assert caught.value.line is not None and caught.value.line > 1

    lower = tmp_path / "lower.yaml"
    lower.write_text(
        "version: 1\nrecipients:\n"
        "  - {name: A, kind: other, countries: [us], data_categories: [user.device], hosts: [x.io]}\n",
        encoding="utf-8",
    )
    with pytest.raises(LoadError) as lowercase:
        load_catalogue(lower)
    assert lowercase.value.code == CATALOGUE_ERROR
    assert "ISO 3166" in lowercase.value.reason

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nrecipients: [\n", encoding="utf-8")
    with pytest.raises(LoadError) as unparsable:
        load_catalogue(broken)
    assert unparsable.value.code == CATALOGUE_ERROR


def test_a_detector_claimed_by_two_recipients_is_refused(tmp_path: Path) -> None:
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        "version: 1\nrecipients:\n"
        "  - {name: A, kind: other, countries: [US], data_categories: [user.device], npm: [left-pad]}\n"
        "  - {name: B, kind: email, countries: [US], data_categories: [user.device], npm: [left-pad]}\n",
        encoding="utf-8",
    )
    with pytest.raises(LoadError) as caught:
        load_catalogue(clash)
    assert "npm 'left-pad' (A, B)" in caught.value.reason


def test_index_matches_wildcards_and_the_longest_import_prefix(tmp_path: Path) -> None:
    index = RecipientIndex(load_catalogue())
    assert index.host("us-central1-aiplatform.googleapis.com") == "Google Vertex AI"
    assert index.host("acme.zendesk.com") == "Zendesk"
    assert index.host("zendesk.com.evil.example") is None
    assert index.host("notapi.stripe.com") is None
    assert index.npm("@sentry/browser") == "Sentry"
    assert index.npm("@aws-sdk/client-ses") == "Amazon SES"
    assert index.npm("@aws-sdk/client-dynamodb") == "Amazon Web Services (AWS)"
    assert index.python("google.cloud.aiplatform.gapic") == "Google Vertex AI"
    assert index.python("google.cloud.pubsub") is None
    assert index.pypi("Sentry_SDK") == "Sentry"
    assert index.env("AZURE_OPENAI_KEY") == "Azure OpenAI"


def test_the_manifest_is_discovered_and_matches_the_code() -> None:
    manifest = Catalogue.discover().get("third_party_scan")
    assert manifest is not None
    assert manifest.version == VERSION
    assert (manifest.input_schemas, manifest.output_schema, manifest.reads, manifest.uses_llm) == (
        [],
        "system_scan",
        "systems",
        "never",
    )
    jsonschema.validate({"max_files": 10, "max_file_bytes": 4096}, manifest.config_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"max_depth": 3}, manifest.config_schema)
