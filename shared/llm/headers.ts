/** The header naming the agent role of a model request; mock-llm keys its script on it. */
export const ROLE_HEADER = 'x-nightshift-role';
/** The header naming the ticket a model request works on. */
export const TICKET_HEADER = 'x-nightshift-ticket';
