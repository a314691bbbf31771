"""The PROMINENCE page inside Airflow's UI (the plugin's external view, an iframe on the same origin).

The page is static HTML and JavaScript that calls this API with the UI's own login (rest/deps.py
accepts the Airflow token cookie on GETs), so a person sees exactly the jobs and workflows their
API tokens see, with live stdout/stderr and a link to each Airflow run.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from prominence.config import get_settings
from prominence.rest.deps import UserDep

PAGE = Path(__file__).with_name("ui_page.html")
PAGE_PATH = "/ui/"

router = APIRouter()


@cache
def _template() -> str:
    settings = get_settings()
    return (
        PAGE.read_text()
        .replace("__API__", settings.url_prefix)
        .replace("__JOB_DAG__", settings.job_dag_id)
        .replace("__WORKFLOW_DAG_PREFIX__", settings.workflow_dag_prefix)
    )


@router.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
def page(identity: UserDep) -> str:
    return _template().replace("__USER__", html.escape(identity.username))
