"""Every action_id and callback_id in one place."""

from enum import StrEnum


class Action(StrEnum):
    CONFIRM = "chainops_confirm"
    CANCEL = "chainops_cancel"
    APPROVE = "chainops_approve"
    REJECT = "chainops_reject"
    ROLLBACK = "chainops_rollback"
    REVERT = "chainops_revert"  # a settings change (autoscaling, instance types) put back as it was
    # modal inputs that drive dependent fields or typeahead
    PICK_CHAIN = "chainops_pick_chain"
    PICK_ENV = "chainops_pick_env"
    PICK_DEPLOYMENT = "chainops_pick_deployment"
    PICK_INSTANCE_TYPE = "chainops_pick_instance_type"
    SCALE_DOWN = "chainops_scale_down"
    SET_SCALING = "chainops_set_scaling"
    # the App Home's menu on a line of one of the person's chains: opens a form for it
    HOME_FORM = "chainops_home_form"


class View(StrEnum):
    PROMOTE = "chainops_promote_modal"
    INSTANCE_TYPE = "chainops_instance_type_modal"
    AUTOSCALING = "chainops_autoscaling_modal"
