"""The catalog's language keys (formats.md §1): ``languages``, a template's ``language``, and what
check-catalog says about languages that lack templates."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_graph.catalog import Catalog, TemplatePurpose, parse_catalog
from agent_graph.errors import CatalogError
from agent_graph.templates import choose_template, languages_lacking_templates
from tests.conftest import CATALOG_YAML, REPO

ES_TEMPLATES = [
    {"id": "pedir_datos", "purpose": "request_info", "language": "es",
     "subject": "Re: {{ case.title }} [{{ case.number }}]",
     "body": "Hola:\n\nPara seguir nos falta:{% for m in missing %} {{ m.label }}{% endfor %}.\n\nTidewater Bikes"},
    {"id": "solucion", "purpose": "resolution", "language": "es",
     "subject": "Re: {{ case.title }} [{{ case.number }}]", "body": "Hola:\n\n{{ knowledge }}\n\nTidewater Bikes"},
    {"id": "recordatorio", "purpose": "follow_up", "language": "es",
     "subject": "Re: {{ case.title }} [{{ case.number }}]", "body": "Hola:\n\n¿Seguimos con su solicitud?\n\nTidewater Bikes"},
    {"id": "generico", "purpose": "generic", "language": "es",
     "subject": "Re: {{ case.title }} [{{ case.number }}]", "body": "Hola:\n\n{{ message }}\n\nTidewater Bikes"},
]
RETURN_ES = {"id": "devolucion_ok", "intents": ["return_bike"], "purpose": "resolution", "language": "es",
             "subject": "Su devolución {{ fields.order_ref }} [{{ case.number }}]",
             "body": "Hola:\n\nLa devolución del pedido {{ fields.order_ref }} está registrada. {{ knowledge }}"}
RETURN_DE = {"id": "ruecksendung_ok", "intents": ["return_bike"], "purpose": "resolution", "language": "de",
             "subject": "Ihre Rücksendung {{ fields.order_ref }} [{{ case.number }}]",
             "body": "Hallo,\n\ndie Rücksendung von {{ fields.order_ref }} ist gebucht. {{ knowledge }}"}
GENERIC_DE = {"id": "allgemein", "purpose": "generic", "language": "de",
              "subject": "Re: {{ case.title }} [{{ case.number }}]", "body": "Hallo,\n\n{{ message }}\n\nTidewater Bikes"}


def multilingual(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(CATALOG_YAML)
    data["languages"] = ["en", "es", "de"]
    data["lines_of_business"][0]["templates"] += [RETURN_ES, RETURN_DE]
    data["lines_of_business"][0]["intents"][0]["examples"] += ["Quiero devolver la bici, me queda grande",
                                                               "Ich möchte das Fahrrad zurückgeben"]
    data["templates"] += [*ES_TEMPLATES, GENERIC_DE]
    data.update(changes)
    return data


def load(data: dict[str, Any]) -> Catalog:
    return parse_catalog(copy.deepcopy(data), "multi.yaml")


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(CatalogError) as caught:
        load(data)
    return str(caught.value)


def test_languages_default_to_the_default_language() -> None:
    catalog = load(yaml.safe_load(CATALOG_YAML))
    assert catalog.languages == ["en"] and catalog.default_language == "en"
    spanish = load({**yaml.safe_load(CATALOG_YAML), "default_language": "es-MX"})
    assert spanish.default_language == "es" and spanish.languages == ["es"]


def test_a_template_is_in_the_default_language_unless_it_says_otherwise() -> None:
    catalog = load(multilingual())
    assert catalog.language_of(catalog.template("return_ok")) == "en"
    assert catalog.language_of(catalog.template("devolucion_ok")) == "es"


def test_a_template_language_not_answered_in_is_an_error_naming_it() -> None:
    text = problems(multilingual(languages=["en", "es"]))
    assert "multi.yaml: lines_of_business[0].templates[2].language: 'de' is not in languages [en, es]" in text
    assert "multi.yaml: templates[5].language: 'de'" in text


@pytest.mark.parametrize(("change", "where", "what"), [
    ({"default_language": "fr"}, "default_language", "'fr' is not in languages [en, es, de]"),
    ({"languages": ["en", "es", "de", "es"]}, "languages[3]", "duplicate language 'es'"),
    ({"languages": ["english"]}, "languages[0]", "pattern"),
    ({"languages": []}, "languages", "at least 1"),
])
def test_language_keys_are_checked(change: dict[str, Any], where: str, what: str) -> None:
    text = problems(multilingual(**change))
    assert f"multi.yaml: {where}: " in text and what in text


def test_template_choice_in_a_language_takes_the_same_role_in_that_language() -> None:
    catalog = load(multilingual())
    return_bike = catalog.intent("return_bike")
    delivery = catalog.intent("delivery_date")
    chosen = {lang: choose_template(catalog, "shop", return_bike, TemplatePurpose.RESOLUTION, lang) for lang in
              ("en", "es", "de")}
    assert {lang: t.id for lang, t in chosen.items() if t} == {"en": "return_ok", "es": "devolucion_ok",
                                                              "de": "ruecksendung_ok"}
    assert choose_template(catalog, "shop", delivery, TemplatePurpose.RESOLUTION, "es").id == "solucion"
    assert choose_template(catalog, "shop", delivery, TemplatePurpose.REQUEST_INFO, "de").id == "allgemein"
    assert choose_template(catalog, "shop", delivery, TemplatePurpose.REQUEST_INFO, "fr") is None
    assert choose_template(catalog, "shop", return_bike, TemplatePurpose.RESOLUTION).id == "return_ok"  # as before


def test_check_catalog_warns_for_a_language_lacking_templates_and_says_which() -> None:
    warnings = languages_lacking_templates(load(multilingual()))
    assert len(warnings) == 1, warnings  # en has the built-in wording; es has a template for every need
    german = warnings[0]
    assert german.startswith("language 'de' has no template for request_info for shop/(intent not known), "
                              "shop/return_bike, shop/delivery_date, workshop/(intent not known), "
                              "workshop/repair_booking; resolution for shop/delivery_date, workshop/repair_booking; "
                              "follow_up for shop/(intent not known)")
    assert "shop/return_bike; " not in german.split("resolution for")[1].split(";")[0]  # its resolution exists
    assert "the built-in wording is only in en" in german


def test_a_catalog_in_one_language_has_no_language_warning() -> None:
    assert languages_lacking_templates(load(yaml.safe_load(CATALOG_YAML))) == []


def test_check_catalog_prints_the_languages_and_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(multilingual(), allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "agent_graph.cli", "check-catalog", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "languages: en, es, de (default en)" in done.stdout
    assert "warning:" in done.stdout and "language 'de' has no template" in done.stdout
