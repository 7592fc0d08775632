"""What a campaign request is refused for, in the API's error format (``config.errors`` renders them)."""

from config.exceptions import Conflict, DomainError


class CampaignTemplateNotUsable(DomainError):
    status = 422
    code = "template_not_usable"
    message = "The campaign's template cannot be sent: it must exist and be approved for the company."


class CsvNotUsable(DomainError):
    status = 422
    code = "csv_not_usable"
    message = "The CSV cannot be read as the campaign's list."


class CampaignStateConflict(Conflict):
    code = "campaign_state"
    message = "The campaign cannot do this in its current state."


class NothingToSend(Conflict):
    code = "campaign_empty"
    message = "The campaign has no recipients yet: upload a CSV and wait for it to be imported."
