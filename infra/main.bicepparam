// The values the LVM team sets for the production monitor. Everything not listed here
// keeps the default in main.bicep. Deploy with:
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
using 'main.bicep'

// Who is told that LCO seems offline, and who hears when the monitor itself stops:
// the LVM critical-alerts list. Plain addresses only (no "Name <addr>").
param emailRecipients = [
  'lvm-critical@sdss.org'
]

// Replies to an outage email go here; '' for none.
param emailReplyTo = ''

param siteName = 'LCO'

// Seconds of silence from LCO before the outage email.
param sendEmailAfterSeconds = 300

// Check every 30 s, so an outage is reported at most ~30 s after send_email_after.
param checkSchedule = '*/30 * * * * *'

// Keep the hostname the actor is configured with: never change this once deployed.
// Leave it commented out to use the default derived from the resource group.
// param functionAppName = 'func-lvmbeat-<token>'

// Channels beside email (docs/deploy.md, "Secrets"). A channel whose secret comes from
// the Key Vault stays off until that secret is in the vault: set it with
// `az keyvault secret set`, then turn the channel on here and deploy again.
param slackEnabled = false
param slackChannel = 'lvm-alerts'
param slackMentions = '@here'
// One JSON POST per notice; '' for none. webhookSigned needs secret webhook-secret.
param webhookUrl = ''
param webhookSigned = false
// Seconds between "still down" reminders during an outage; 0 for none.
param remindEverySeconds = 0

// Watcher on the watcher: alert when the monitor timer has not completed for 15 min.
param watcherWindowMinutes = 15
param watcherEnabled = true
param availabilityTestEnabled = true
