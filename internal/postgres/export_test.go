package postgres

// Internals that the external tests inspect: the exact SQL whose plans
// they check, and the number of embedded migrations.
var (
	ListSQL  = listSQL
	CountSQL = countSQL
)

const (
	SessionByKeySQL = sessionByKeySQL
	PurgeExpiredSQL = purgeExpiredSQL
	PurgeRevokedSQL = purgeRevokedSQL
)

func MigrationCount() int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}
