"""The choices of ``case-agent eval-intents``, apart from the harness so that the command line
can list them without importing scikit-learn."""

from __future__ import annotations

from enum import StrEnum


class IntentDataset(StrEnum):
    """The datasets ``eval-intents`` knows (for a command-line choice)."""

    CLINC150 = "clinc150"
    BANKING77 = "banking77"
    DSTC11 = "dstc11"


class ModelKind(StrEnum):
    """The model kinds of the grid (for a command-line choice)."""

    SVM = "svm"
    LR = "lr"
