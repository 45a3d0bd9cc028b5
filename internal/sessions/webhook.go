package sessions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
)

// Webhook is an endpoint of a tenant that receives the tenant's events,
// each one POSTed and signed with Secret (see internal/webhook).
//
// The secret is stored as it is, not hashed like API keys: sessiond must
// sign every delivery with it, so it has to be able to read it. Whoever
// can read the database can therefore forge deliveries to the tenant's
// endpoints; the secret is shown once, when the webhook is added, and
// never listed.
type Webhook struct {
	ID         string // "wh_" and 16 hex digits
	TenantID   int64
	TenantName string
	URL        string
	Secret     string
	CreatedAt  int64
	// Disabled webhooks receive nothing; their pending deliveries wait.
	Disabled bool
}

// DeliveryState is where a delivery of an event to a webhook stands.
type DeliveryState string

// The states of a delivery.
const (
	// DeliveryPending: not delivered yet; tried again at NextAttemptAt.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryDead: every attempt failed; kept as a dead letter until
	// retried by an operator or purged with its event.
	DeliveryDead DeliveryState = "dead"
)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	WebhookID string
	// URL and Secret are the webhook's, as of the claim.
	URL, Secret   string
	Event         *Event
	State         DeliveryState
	Attempts      int   // attempts started, this one included once claimed
	NextAttemptAt int64 // Unix seconds
	LastError     string
}

// WebhookStore keeps webhooks and their deliveries. Both stores implement
// it next to Store; it is a separate interface because only the webhook
// worker and the command line need it.
type WebhookStore interface {
	// CreateWebhook stores w in the tenant named w.TenantName and sets
	// w.TenantID. The webhook receives the events recorded after it is
	// created, not the ones before. Returns ENOTFOUND if the tenant does
	// not exist and ECONFLICT if the ID is taken.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// ListWebhooks returns every webhook of every tenant, oldest first,
	// with their secrets (the caller decides what to show).
	ListWebhooks(ctx context.Context) ([]*Webhook, error)
	// DeleteWebhook deletes the webhook and its deliveries. Returns
	// ENOTFOUND if there is no such webhook.
	DeleteWebhook(ctx context.Context, id string) error

	// FanOut creates a pending delivery, due at now, for each event of
	// each enabled webhook's tenant recorded since the webhook's last
	// fan-out, at most limit per webhook, and returns how many it
	// created. Several nodes may run it at once: each event reaches each
	// webhook once.
	FanOut(ctx context.Context, now int64, limit int) (int, error)
	// ClaimDeliveries returns up to limit pending deliveries of enabled
	// webhooks that are due at now and are the oldest pending delivery of
	// their webhook for their user (so that a user's events reach an
	// endpoint in order), oldest first, and counts an attempt of each and
	// moves its NextAttemptAt to leaseUntil: a worker that dies with a
	// claim leaves it to be claimed again then. Several nodes may claim at
	// once: each gets different deliveries.
	ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]*Delivery, error)
	// RecordDelivery stores the outcome of an attempt of the delivery of
	// event seq to webhook id: state DeliveryDelivered, or DeliveryPending
	// with the next attempt at next, or DeliveryDead; errText says why
	// the attempt failed ("" if it did not). Returns ENOTFOUND if there
	// is no such delivery (its webhook or event was deleted meanwhile).
	RecordDelivery(ctx context.Context, id string, seq int64, state DeliveryState, next int64, errText string) error
	// ListDeliveries returns the deliveries in state, of webhook id ("" for
	// every webhook), oldest event first, at most limit.
	ListDeliveries(ctx context.Context, id string, state DeliveryState, limit int) ([]*Delivery, error)
	// RetryDead makes the dead letters of webhook id pending again, due at
	// now with no attempt counted, and returns how many. Returns
	// ENOTFOUND if there is no such webhook.
	RetryDead(ctx context.Context, id string, now int64) (int, error)
}

// NewWebhookID returns the public identifier of a webhook.
func NewWebhookID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "wh_" + hex.EncodeToString(b)
}

// NewWebhookSecret returns a new signing secret: 256 random bits.
func NewWebhookSecret() string { return newSecret("whsec_") }

// MaxWebhookURLLen is the longest endpoint URL accepted.
const MaxWebhookURLLen = 2048

// CheckWebhookURL returns why raw is not a usable endpoint, or "": it
// must be an absolute http or https URL with a host and no user
// information (credentials in a URL end up in logs).
func CheckWebhookURL(raw string) string {
	if raw == "" || len(raw) > MaxWebhookURLLen {
		return "must be an http or https URL of at most 2048 characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "must be an http or https URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n"):
		return "must not contain a fragment or white space"
	}
	return ""
}
