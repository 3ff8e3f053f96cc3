"""Plans built from the real translations and contracts, once per session, no sockets."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from shimgw import resources
from shimgw.contracts.document import Contract, load_contract
from shimgw.translate.language import load_translations
from shimgw.translate.nodes import Translations
from shimgw.translate.plan import OperationPlan, build_plans


@pytest.fixture(scope="session")
def contracts() -> tuple[Contract, Contract]:
    return (
        load_contract(resources.phase1_contract(), "phase1"),
        load_contract(resources.phase2_contract(), "phase2"),
    )


@pytest.fixture(scope="session")
def translations() -> Translations:
    return load_translations(resources.translations_dir())


@pytest.fixture(scope="session")
def plans(
    translations: Translations, contracts: tuple[Contract, Contract]
) -> Mapping[str, OperationPlan]:
    return build_plans(translations, *contracts)
