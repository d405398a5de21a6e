"""The default email templates shipped in templates/emails/, one file per category.

Each file has `key: value` header lines (name, category, promise_business_days, subject), a
`---` line, then the body. `install_default_templates` adds any that are missing, so it is safe
to run on every `hiretrack demo` and after upgrades.
"""

from dataclasses import dataclass

from sqlalchemy import select

from hiretrack.extensions import db
from hiretrack.messages.models import EmailTemplate, EmailTemplateVersion, TemplateCategory
from hiretrack.resources import resource_dir


@dataclass(frozen=True)
class DefaultTemplate:
    slug: str
    name: str
    category: str
    subject: str
    body: str
    promise_business_days: int | None


def parse_template_file(slug: str, text: str) -> DefaultTemplate:
    """Parse one template file into its fields."""
    header, separator, body = text.partition("\n---\n")
    if not separator:
        raise ValueError(f"templates/emails/{slug}.txt has no '---' line between header and body")
    fields = dict(line.split(": ", 1) for line in header.strip().splitlines())
    days = fields.get("promise_business_days")
    return DefaultTemplate(
        slug=slug,
        name=fields["name"],
        category=TemplateCategory(fields["category"]).value,
        subject=fields["subject"],
        body=body.strip() + "\n",
        promise_business_days=int(days) if days else None,
    )


def load_default_templates() -> list[DefaultTemplate]:
    """Read every default template shipped with the app."""
    folder = resource_dir("templates") / "emails"
    return [
        parse_template_file(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.txt"))
    ]


def install_default_templates() -> list[EmailTemplate]:
    """Add each shipped template whose slug is not in the database yet; return those added."""
    existing = set(db.session.scalars(select(EmailTemplate.slug)))
    added = []
    for default in load_default_templates():
        if default.slug in existing:
            continue
        template = EmailTemplate(
            slug=default.slug,
            name=default.name,
            category=default.category,
            subject=default.subject,
            body=default.body,
            promise_business_days=default.promise_business_days,
            current_version=1,
        )
        template.versions.append(
            EmailTemplateVersion(
                number=1,
                name=default.name,
                category=default.category,
                subject=default.subject,
                body=default.body,
                promise_business_days=default.promise_business_days,
                change_note="Shipped with HireTrack",
            )
        )
        db.session.add(template)
        added.append(template)
    return added
