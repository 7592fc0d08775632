"""The flow's table: every state is in it, every transition leads to a state, every question has its text."""

import pytest

from conversations.bot import actions, questions
from conversations.bot.machine import ANYWHERE, FLOW, HANDOFF_REASONS, RETRY, Reads, State, next_state, state_of
from conversations.bot.texts import DEFAULTS
from conversations.services.sessions import START


def test_every_state_has_a_row_and_a_new_session_starts_at_the_first():
    assert set(FLOW) == set(State)
    assert State(START) == State.START


def test_every_transition_leads_to_a_state_of_the_table():
    for step in FLOW.values():
        assert all(target in FLOW for target in step.on.values())
    assert all(target in FLOW for target in ANYWHERE.values())


def test_every_state_is_reachable_from_the_start():
    reached, frontier = {State.START}, [State.START]
    while frontier:
        for target in FLOW[frontier.pop()].on.values():
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_every_asking_state_has_its_question_its_reader_its_action_and_its_retry_text():
    asking = [state for state, step in FLOW.items() if step.asks]
    assert set(asking) == set(questions.QUESTIONS)
    for state in asking:
        step = FLOW[state]
        assert step.asks in DEFAULTS and step.invalid in DEFAULTS
        assert step.reads != Reads.NOTHING
        assert state in actions.ACTIONS
    assert State.START in actions.ACTIONS


def test_only_the_ends_end_and_they_lead_nowhere():
    ends = {state for state, step in FLOW.items() if step.ends}
    assert ends == {State.HANDED_OFF, State.FINISHED}
    for state in ends:
        assert FLOW[state].on == {}
        with pytest.raises(KeyError):
            next_state(state, "too_many_invalid")


@pytest.mark.parametrize("state", [s for s, step in FLOW.items() if step.asks])
def test_every_asking_state_asks_again_and_hands_off_from_the_side_rails(state):
    for retry in RETRY:
        assert next_state(state, retry) == state
    assert next_state(state, "too_many_invalid") == State.HANDED_OFF
    assert next_state(state, "asked_for_person") == State.HANDED_OFF


def test_every_way_into_a_person_has_a_reason_for_the_agent():
    into_handoff = {o for step in FLOW.values() for o, target in step.on.items() if target == State.HANDED_OFF}
    into_handoff |= set(ANYWHERE)
    assert into_handoff <= set(HANDOFF_REASONS)


def test_the_chart_reads_as_the_spec():
    assert next_state(State.START, "recognised") == State.CONFIRM_ACCOUNT
    assert next_state(State.START, "unknown") == State.ASK_DOCUMENT
    assert next_state(State.CONFIRM_ACCOUNT, "yes") == State.MENU
    assert next_state(State.CONFIRM_ACCOUNT, "no") == State.ASK_DOCUMENT
    assert next_state(State.ASK_DOCUMENT, "found") == State.MENU
    assert next_state(State.MENU, "bill_sent") == State.MENU
    assert next_state(State.MENU, "several_contracts") == State.CHOOSE_CONTRACT
    assert next_state(State.MENU, "person") == State.HANDED_OFF
    assert next_state(State.MENU, "erp_down") == State.OFFER_PERSON
    assert next_state(State.OFFER_PERSON, "wants_person") == State.HANDED_OFF


def test_an_outcome_the_table_does_not_name_is_an_error_not_a_guess():
    with pytest.raises(KeyError):
        next_state(State.CONFIRM_ACCOUNT, "bill_sent")


def test_a_state_no_longer_in_the_table_starts_again():
    assert state_of("menu") == State.MENU
    assert state_of("some_state_of_an_older_version") == State.START
