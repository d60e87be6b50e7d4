"""Real public tables that ship with installed packages (no download), shaped as a user would bring them."""

from __future__ import annotations

import numpy as np
import pandas as pd

OCCUPATIONS = {1: "student", 2: "farming", 3: "white-collar", 4: "teacher", 5: "manager", 6: "professional"}


def fair_survey(rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Fair's 1978 survey (statsmodels' bundled copy): whole-number ratings (marriage 1-5, religiousness 1-4,
    education in years), interval answers (age, years married, children) and the occupation as text. About
    one row in six repeats another (different respondents, same answers). ``rows``: a random subset."""
    from statsmodels.datasets import fair

    data = fair.load_pandas().data
    table = pd.DataFrame(
        {
            "rate_marriage": data["rate_marriage"].astype(np.int64),
            "religious": data["religious"].astype(np.int64),
            "educ": data["educ"].astype(np.int64),
            "age": data["age"].astype(float),
            "yrs_married": data["yrs_married"].astype(float),
            "children": data["children"].astype(float),
            "occupation": data["occupation"].astype(int).map(OCCUPATIONS),
        }
    )
    if rows is not None:
        table = table.sample(n=rows, random_state=seed).reset_index(drop=True)
    return table
