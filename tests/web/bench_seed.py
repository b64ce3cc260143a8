"""Code run in ``manage.py shell`` against the browser tests' server before it starts: one extra
practitioner (``bench.worker``) whose caseload is about ``TOTAL`` documents — cases with people,
visits in every status and notes, made through the same services as everything else."""

SEED = r"""
import json, random, time
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from backend.accounts.models import Role, Team, User
from backend.audit.services import Actor
from backend.cases.services import allocation_add, case_create
from backend.demo import factories
from backend.demo.seed import _workflow
from backend.records.services import document_create

TOTAL = __TOTAL__
PER_CASE = 40  # 1 case + 4 people + 28 visits + 7 notes
started = time.monotonic()
rng = random.Random(7)
factories.fake.seed_instance(7)
now = timezone.now()
team = Team.objects.get(name="Children in Need Central")
supervisor = team.managers.order_by("pk").first()
sup = Actor(user=supervisor)
user = User.objects.create_user(
    username="bench.worker", password="doorstep-demo-2026", role=Role.PRACTITIONER,
    first_name="Bea", last_name="Bench", job_title="Social worker",
)
team.members.add(user)
worker = Actor(user=user)
count = 0
for index in range(max(1, TOTAL // PER_CASE)):
    # One transaction per case: quick enough, and short enough not to hold up a running server.
    with transaction.atomic():
        opened = now - timedelta(days=400)
        content = factories.case_content(case_type="child_in_need", visit_frequency_days=20)
        case = case_create(actor=sup, team=team, content=content, now=opened)
        allocation_add(actor=sup, case_id=case.id, user=user, role="lead", now=opened)
        count += 1
        surname = content["family_name"].removesuffix(" family")
        children, adults = [], []
        for role in ["parent", "carer", "child", "child"]:
            person = factories.person_content(role=role, surname=surname, today=now.date())
            view = document_create(actor=worker, case_id=case.id, doc_type="person", content=person, now=opened)
            (children if role == "child" else adults).append((view.id, person["full_name"]))
            count += 1
        for v in range(28):
            at = (now - timedelta(days=14 * (28 - v) - rng.randint(0, 20 if index % 7 == 0 else 3))).replace(microsecond=0)
            status = rng.choice(["draft", "submitted", "returned", "signed_off"]) if v == 27 else "signed_off"
            document_create(
                actor=worker, case_id=case.id, doc_type="visit",
                content=factories.visit_content(visit_date=at, children=children, adults=adults),
                now=at + timedelta(hours=3),
                server_content=_workflow(status, author=user, supervisor=supervisor, at=at + timedelta(hours=3)),
            )
            count += 1
        for _ in range(7):
            at = now - timedelta(days=rng.randint(1, 300))
            document_create(actor=worker, case_id=case.id, doc_type="note",
                            content=factories.note_content(occurred_at=at), now=at)
            count += 1
print(json.dumps({"username": user.username, "user_id": user.pk, "documents": count,
                  "seconds": round(time.monotonic() - started, 1)}))
"""


def seed_code(total: int) -> str:
    return SEED.replace("__TOTAL__", str(total))
