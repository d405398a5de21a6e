"""Failed deliveries and drafts waiting kept per requisition, by triggers

Revision ID: d7f3b1a9c254
Revises: c3e5a7b9d021
Create Date: 2026-12-05 01:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'd7f3b1a9c254'
down_revision = 'c3e5a7b9d021'
branch_labels = None
depends_on = None

#: As `hiretrack.messages.requisition_counts.trigger_statements` writes them (a test compares).
SQLITE_TRIGGERS = [
    "CREATE TRIGGER outbox_email_requisition_counts_insert AFTER INSERT ON outbox_email WHEN NEW.status IN ('failed', 'bounced', 'unconfirmed') BEGIN UPDATE requisition SET failed_deliveries = failed_deliveries + 1 WHERE NEW.status IN ('failed', 'bounced', 'unconfirmed') AND id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END",
    "CREATE TRIGGER outbox_email_requisition_counts_update AFTER UPDATE OF status, application_id ON outbox_email WHEN (OLD.status IN ('failed', 'bounced', 'unconfirmed')) IS NOT (NEW.status IN ('failed', 'bounced', 'unconfirmed')) OR OLD.application_id IS NOT NEW.application_id BEGIN UPDATE requisition SET failed_deliveries = failed_deliveries - 1 WHERE OLD.status IN ('failed', 'bounced', 'unconfirmed') AND id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); UPDATE requisition SET failed_deliveries = failed_deliveries + 1 WHERE NEW.status IN ('failed', 'bounced', 'unconfirmed') AND id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END",
    "CREATE TRIGGER outbox_email_requisition_counts_delete AFTER DELETE ON outbox_email WHEN OLD.status IN ('failed', 'bounced', 'unconfirmed') BEGIN UPDATE requisition SET failed_deliveries = failed_deliveries - 1 WHERE OLD.status IN ('failed', 'bounced', 'unconfirmed') AND id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); END",
    "CREATE TRIGGER draft_requisition_counts_insert AFTER INSERT ON draft WHEN NEW.status IN ('pending') BEGIN UPDATE requisition SET drafts_waiting = drafts_waiting + 1 WHERE NEW.status IN ('pending') AND id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END",
    "CREATE TRIGGER draft_requisition_counts_update AFTER UPDATE OF status, application_id ON draft WHEN (OLD.status IN ('pending')) IS NOT (NEW.status IN ('pending')) OR OLD.application_id IS NOT NEW.application_id BEGIN UPDATE requisition SET drafts_waiting = drafts_waiting - 1 WHERE OLD.status IN ('pending') AND id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); UPDATE requisition SET drafts_waiting = drafts_waiting + 1 WHERE NEW.status IN ('pending') AND id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END",
    "CREATE TRIGGER draft_requisition_counts_delete AFTER DELETE ON draft WHEN OLD.status IN ('pending') BEGIN UPDATE requisition SET drafts_waiting = drafts_waiting - 1 WHERE OLD.status IN ('pending') AND id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); END",
    "CREATE TRIGGER application_requisition_counts_move AFTER UPDATE OF requisition_id ON application WHEN OLD.requisition_id IS NOT NEW.requisition_id BEGIN UPDATE requisition SET failed_deliveries = failed_deliveries - (SELECT count(*) FROM outbox_email WHERE application_id = OLD.id AND outbox_email.status IN ('failed', 'bounced', 'unconfirmed')), drafts_waiting = drafts_waiting - (SELECT count(*) FROM draft WHERE application_id = OLD.id AND draft.status IN ('pending')) WHERE id = OLD.requisition_id; UPDATE requisition SET failed_deliveries = failed_deliveries + (SELECT count(*) FROM outbox_email WHERE application_id = NEW.id AND outbox_email.status IN ('failed', 'bounced', 'unconfirmed')), drafts_waiting = drafts_waiting + (SELECT count(*) FROM draft WHERE application_id = NEW.id AND draft.status IN ('pending')) WHERE id = NEW.requisition_id; END",
]

POSTGRESQL_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION outbox_email_requisition_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP <> 'INSERT' THEN IF OLD.status IN ('failed', 'bounced', 'unconfirmed') THEN UPDATE requisition SET failed_deliveries = failed_deliveries - 1 WHERE id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); END IF; END IF; IF TG_OP <> 'DELETE' THEN IF NEW.status IN ('failed', 'bounced', 'unconfirmed') THEN UPDATE requisition SET failed_deliveries = failed_deliveries + 1 WHERE id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END IF; END IF; RETURN NULL; END $$",
    "CREATE TRIGGER outbox_email_requisition_counts_insert AFTER INSERT ON outbox_email FOR EACH ROW WHEN (NEW.status IN ('failed', 'bounced', 'unconfirmed')) EXECUTE FUNCTION outbox_email_requisition_counts()",
    "CREATE TRIGGER outbox_email_requisition_counts_update AFTER UPDATE OF status, application_id ON outbox_email FOR EACH ROW WHEN ((OLD.status IN ('failed', 'bounced', 'unconfirmed')) IS DISTINCT FROM (NEW.status IN ('failed', 'bounced', 'unconfirmed')) OR OLD.application_id IS DISTINCT FROM NEW.application_id) EXECUTE FUNCTION outbox_email_requisition_counts()",
    "CREATE TRIGGER outbox_email_requisition_counts_delete AFTER DELETE ON outbox_email FOR EACH ROW WHEN (OLD.status IN ('failed', 'bounced', 'unconfirmed')) EXECUTE FUNCTION outbox_email_requisition_counts()",
    "CREATE OR REPLACE FUNCTION draft_requisition_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF TG_OP <> 'INSERT' THEN IF OLD.status IN ('pending') THEN UPDATE requisition SET drafts_waiting = drafts_waiting - 1 WHERE id = (SELECT requisition_id FROM application WHERE id = OLD.application_id); END IF; END IF; IF TG_OP <> 'DELETE' THEN IF NEW.status IN ('pending') THEN UPDATE requisition SET drafts_waiting = drafts_waiting + 1 WHERE id = (SELECT requisition_id FROM application WHERE id = NEW.application_id); END IF; END IF; RETURN NULL; END $$",
    "CREATE TRIGGER draft_requisition_counts_insert AFTER INSERT ON draft FOR EACH ROW WHEN (NEW.status IN ('pending')) EXECUTE FUNCTION draft_requisition_counts()",
    "CREATE TRIGGER draft_requisition_counts_update AFTER UPDATE OF status, application_id ON draft FOR EACH ROW WHEN ((OLD.status IN ('pending')) IS DISTINCT FROM (NEW.status IN ('pending')) OR OLD.application_id IS DISTINCT FROM NEW.application_id) EXECUTE FUNCTION draft_requisition_counts()",
    "CREATE TRIGGER draft_requisition_counts_delete AFTER DELETE ON draft FOR EACH ROW WHEN (OLD.status IN ('pending')) EXECUTE FUNCTION draft_requisition_counts()",
    "CREATE OR REPLACE FUNCTION application_requisition_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE requisition SET failed_deliveries = failed_deliveries - (SELECT count(*) FROM outbox_email WHERE application_id = OLD.id AND outbox_email.status IN ('failed', 'bounced', 'unconfirmed')), drafts_waiting = drafts_waiting - (SELECT count(*) FROM draft WHERE application_id = OLD.id AND draft.status IN ('pending')) WHERE id = OLD.requisition_id; UPDATE requisition SET failed_deliveries = failed_deliveries + (SELECT count(*) FROM outbox_email WHERE application_id = NEW.id AND outbox_email.status IN ('failed', 'bounced', 'unconfirmed')), drafts_waiting = drafts_waiting + (SELECT count(*) FROM draft WHERE application_id = NEW.id AND draft.status IN ('pending')) WHERE id = NEW.requisition_id; RETURN NULL; END $$",
    'CREATE TRIGGER application_requisition_counts_move AFTER UPDATE OF requisition_id ON application FOR EACH ROW WHEN (OLD.requisition_id IS DISTINCT FROM NEW.requisition_id) EXECUTE FUNCTION application_requisition_counts()',
]

TRIGGERS = {
    'outbox_email': ['outbox_email_requisition_counts_insert', 'outbox_email_requisition_counts_update',
                     'outbox_email_requisition_counts_delete'],
    'draft': ['draft_requisition_counts_insert', 'draft_requisition_counts_update',
              'draft_requisition_counts_delete'],
    'application': ['application_requisition_counts_move'],
}
FUNCTIONS = ['outbox_email_requisition_counts', 'draft_requisition_counts',
             'application_requisition_counts']

FAILED = "('failed', 'bounced', 'unconfirmed')"


def upgrade():
    with op.batch_alter_table('requisition') as batch_op:
        batch_op.add_column(
            sa.Column('failed_deliveries', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.add_column(
            sa.Column('drafts_waiting', sa.Integer(), server_default='0', nullable=False)
        )
    # As `hiretrack.messages.requisition_counts.recount` counts them.
    for column, table, statuses in (
        ('failed_deliveries', 'outbox_email', FAILED),
        ('drafts_waiting', 'draft', "('pending')"),
    ):
        op.execute(
            f"UPDATE requisition SET {column} = (SELECT count(*) FROM {table} JOIN application "
            f"ON application.id = {table}.application_id WHERE application.requisition_id = "
            f"requisition.id AND {table}.status IN {statuses})"
        )
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, names in TRIGGERS.items():
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    with op.batch_alter_table('requisition') as batch_op:
        batch_op.drop_column('drafts_waiting')
        batch_op.drop_column('failed_deliveries')
